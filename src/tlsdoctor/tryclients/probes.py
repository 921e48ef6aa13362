"""The small programs tlsdoctor runs as the Python, Node, Java and Go clients.

Each makes one HTTPS GET the way an ordinary program in that language does (default
context, hostname check on), dialing ``address`` when one is given while verifying ``host``,
and trusting only ``ca`` when one is given (else the runtime's own default store). On
failure each prints the error as that runtime shows it and exits 1.
"""

from __future__ import annotations

# argv: host port address ca timeout   ("" for no address / no CA)
PYTHON_SSL = """\
import socket, ssl, sys
host, port, address, ca, timeout = sys.argv[1:6]
port, timeout = int(port), float(timeout)
context = ssl.create_default_context(cafile=ca or None)
with socket.create_connection((address or host, port), timeout=timeout) as sock:
    with context.wrap_socket(sock, server_hostname=host) as tls:
        name = f"[{host}]" if ":" in host else host
        head = f"GET / HTTP/1.1\\r\\nHost: {name}:{port}\\r\\nConnection: close\\r\\n\\r\\n"
        tls.sendall(head.encode())
        while tls.recv(65536):
            pass
        print("connected", tls.version(), tls.cipher()[0])
"""

# requests and httpx resolve through socket.getaddrinfo: answering ``address`` for ``host``
# there is how --connect reaches them without touching /etc/hosts.
_RESOLVE = """\
import socket, sys
host, port, address, ca, timeout = sys.argv[1:6]
port, timeout = int(port), float(timeout)
if address:
    _getaddrinfo = socket.getaddrinfo
    def getaddrinfo(name, *args, **kwargs):
        return _getaddrinfo(address if name == host else name, *args, **kwargs)
    socket.getaddrinfo = getaddrinfo
url = f"https://[{host}]:{port}/" if ":" in host else f"https://{host}:{port}/"
"""

PYTHON_REQUESTS = (
    _RESOLVE
    + """\
import requests
response = requests.get(url, verify=ca or True, timeout=timeout)
print("connected", response.status_code)
"""
)

PYTHON_HTTPX = (
    _RESOLVE
    + """\
import ssl
import httpx
verify = ssl.create_default_context(cafile=ca) if ca else True
response = httpx.get(url, verify=verify, timeout=timeout)
print("connected", response.status_code)
"""
)

# argv (after -e): host port address ca timeout
NODE = r"""
const https = require('https');
const fs = require('fs');
const net = require('net');
const [host, port, address, ca, timeout] = process.argv.slice(1);
const options = {host, port: Number(port), path: '/', timeout: Number(timeout) * 1000};
if (ca) options.ca = fs.readFileSync(ca);
if (address) {
  const family = net.isIP(address) || 4;
  options.lookup = (name, opts, callback) => opts && opts.all
    ? callback(null, [{address, family}]) : callback(null, address, family);
}
const request = https.get(options, (response) => {
  response.resume();
  response.on('end', () => { console.log('connected', response.statusCode); process.exit(0); });
});
request.on('timeout', () => request.destroy(new Error('timeout')));
request.on('error', (err) => {
  const text = String(err).trim().replace(/\s*\n\s*/g, ' ');
  console.log(err.code ? `${text} (code: '${err.code}')` : text);
  process.exit(1);
});
"""

JAVA_CLASS = "TlsProbe"
# argv: url [timeout-ms]. The trust store and the host mapping come as -D properties.
JAVA = """\
// One HTTPS GET, as a Java program does it: HttpsURLConnection with the JVM's default
// trust store and host name check. Prints the exception as a stack trace's first line
// shows it, and exits 1 on failure.

import java.net.URL;
import javax.net.ssl.HttpsURLConnection;

public final class TlsProbe {
    private TlsProbe() {}

    public static void main(String[] args) {
        try {
            int timeout = args.length > 1 ? Integer.parseInt(args[1]) : 10_000;
            HttpsURLConnection connection = (HttpsURLConnection) new URL(args[0]).openConnection();
            connection.setConnectTimeout(timeout);
            connection.setReadTimeout(timeout);
            int status = connection.getResponseCode();
            connection.getInputStream().readAllBytes();
            System.out.println("connected HTTP " + status + " " + connection.getCipherSuite());
        } catch (Exception exc) {
            System.out.println(exc);
            System.exit(1);
        }
    }
}
"""

# argv: url address ca timeout. The standard library only: no module to download.
GO = """\
package main

import (
\t"context"
\t"crypto/tls"
\t"crypto/x509"
\t"fmt"
\t"net"
\t"net/http"
\t"os"
\t"time"
)

func main() {
\turl, address, ca := os.Args[1], os.Args[2], os.Args[3]
\ttimeout, err := time.ParseDuration(os.Args[4])
\tif err != nil {
\t\tfmt.Println(err)
\t\tos.Exit(2)
\t}
\tconfig := &tls.Config{}
\tif ca != "" {
\t\tdata, err := os.ReadFile(ca)
\t\tif err != nil {
\t\t\tfmt.Println(err)
\t\t\tos.Exit(2)
\t\t}
\t\tpool := x509.NewCertPool()
\t\tpool.AppendCertsFromPEM(data)
\t\tconfig.RootCAs = pool
\t}
\tdialer := &net.Dialer{Timeout: timeout}
\ttransport := &http.Transport{
\t\tTLSClientConfig: config,
\t\tDialContext: func(ctx context.Context, network, where string) (net.Conn, error) {
\t\t\tif address != "" {
\t\t\t\t_, port, _ := net.SplitHostPort(where)
\t\t\t\twhere = net.JoinHostPort(address, port)
\t\t\t}
\t\t\treturn dialer.DialContext(ctx, network, where)
\t\t},
\t}
\tclient := &http.Client{Transport: transport, Timeout: timeout}
\tresponse, err := client.Get(url)
\tif err != nil {
\t\tfmt.Println(err)
\t\tos.Exit(1)
\t}
\tresponse.Body.Close()
\tfmt.Println("connected", response.Status)
}
"""
GO_MOD = "module tlsdoctorprobe\n\ngo 1.18\n"
