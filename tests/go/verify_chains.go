// Verifies chains with Go's crypto/x509, as an oracle of tests/test_standards.py.
//
// Usage: go run verify_chains.go DIR UNIXTIME
// DIR holds one folder per case with leaf.pem, inter.pem and root.pem; for each case one
// line "NAME<TAB>ok" or "NAME<TAB>error: ..." is printed, cases in directory order.
package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func load(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM block in %s", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

func verify(dir string, at time.Time) error {
	leaf, err := load(filepath.Join(dir, "leaf.pem"))
	if err != nil {
		return err
	}
	inter, err := load(filepath.Join(dir, "inter.pem"))
	if err != nil {
		return err
	}
	root, err := load(filepath.Join(dir, "root.pem"))
	if err != nil {
		return err
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	intermediates.AddCert(inter)
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func main() {
	seconds, err := strconv.ParseInt(os.Args[2], 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	entries, err := os.ReadDir(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, entry := range entries {
		result := "ok"
		if err := verify(filepath.Join(os.Args[1], entry.Name()), time.Unix(seconds, 0)); err != nil {
			result = "error: " + strings.ReplaceAll(err.Error(), "\n", " ")
		}
		fmt.Printf("%s\t%s\n", entry.Name(), result)
	}
}
