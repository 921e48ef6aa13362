// One HTTPS GET, as a Java program does it: HttpsURLConnection with the JVM's default
// trust store and host name check. tests/realclients.py compiles and runs it with
// -Djavax.net.ssl.trustStore=<a PKCS12 store holding only the lab CA> and
// -Djdk.net.hosts.file=<a file mapping the lab host name to 127.0.0.1>.
// Prints the exception as a stack trace's first line shows it, and exits 1 on failure.

import java.net.URL;
import javax.net.ssl.HttpsURLConnection;

public final class TlsProbe {
    private TlsProbe() {}

    public static void main(String[] args) {
        try {
            HttpsURLConnection connection = (HttpsURLConnection) new URL(args[0]).openConnection();
            connection.setConnectTimeout(10_000);
            connection.setReadTimeout(10_000);
            int status = connection.getResponseCode();
            connection.getInputStream().readAllBytes();
            System.out.println("HTTP " + status + " " + connection.getCipherSuite());
        } catch (Exception exc) {
            System.out.println(exc);
            System.exit(1);
        }
    }
}
