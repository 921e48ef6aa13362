// goverify: Go's crypto/x509 path builder and validator as an oracle for tlsdoctor's tests.
//
// Usage: goverify ROOTS.pem CHAIN.pem UNIX_TIME [HOST]
// CHAIN.pem holds the leaf first, then what the server sends. Prints "ok" or
// "fail: <error>" on one line; exits 0 either way (2 on unreadable input).
// Standard library only, so it builds offline.
package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strconv"
	"time"
)

func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	return certs, nil
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: goverify ROOTS.pem CHAIN.pem UNIX_TIME [HOST]")
		os.Exit(2)
	}
	roots, err := readCerts(os.Args[1])
	if err != nil {
		fmt.Println("fail: parse roots:", err)
		return
	}
	chain, err := readCerts(os.Args[2])
	if err != nil || len(chain) == 0 {
		fmt.Println("fail: parse chain:", err)
		return
	}
	seconds, err := strconv.ParseInt(os.Args[3], 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad time")
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	for _, root := range roots {
		pool.AddCert(root)
	}
	intermediates := x509.NewCertPool()
	for _, cert := range chain[1:] {
		intermediates.AddCert(cert)
	}
	opts := x509.VerifyOptions{
		Roots:         pool,
		Intermediates: intermediates,
		CurrentTime:   time.Unix(seconds, 0),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(os.Args) > 4 {
		opts.DNSName = os.Args[4]
	}
	if _, err := chain[0].Verify(opts); err != nil {
		fmt.Println("fail:", err)
		return
	}
	fmt.Println("ok")
}
