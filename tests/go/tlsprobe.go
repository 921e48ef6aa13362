// tlsprobe: one HTTPS GET with Go's crypto/tls and crypto/x509, trusting only CAFILE and
// dialling 127.0.0.1 for any name; prints the error as Go formats it (what users paste).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	url, caFile := os.Args[1], os.Args[2]
	pem, err := os.ReadFile(caFile)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}
	client := &http.Client{Transport: transport, Timeout: 15 * time.Second}
	response, err := client.Get(url)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	response.Body.Close()
	fmt.Println(response.Status)
}
