// A TLS server that sends what no honest server sends, for tests/test_hostile_server.py:
// an unparseable certificate beside its real one (to every client, with or without SNI),
// and an HTTP Date header of the test's choosing. Go's crypto/tls sends the chain bytes
// it is given without parsing them, which is exactly what is needed here.
//
//	hostile_server -listen 127.0.0.1:0 -cert leaf.pem -key leaf.key -junk -date 'Fri, 31 Dec 9999 23:59:59 -2359'
//
// It prints the address it listens on, then serves until killed.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	certFile := flag.String("cert", "", "PEM certificate")
	keyFile := flag.String("key", "", "PEM key")
	junk := flag.Bool("junk", false, "send an unparseable certificate after the real one")
	date := flag.String("date", "", "the Date header to send")
	flag.Parse()
	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *junk {
		pair.Certificate = append(pair.Certificate, []byte{0x30, 0x03, 0x02, 0x01, 0x00})
	}
	config := &tls.Config{Certificates: []tls.Certificate{pair}}
	raw, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(raw.Addr().String())
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if *date != "" {
			w.Header()["Date"] = []string{*date}
		}
		w.Write([]byte("hostile\n"))
	})
	http.Serve(tls.NewListener(raw, config), handler)
}
