"""JDBC over TLS (issue 16): Debian's MariaDB Connector/J (libmariadb-java,
2.7) through shardcat with `[server] require_secure_transport`, the
proxy's certificate being the topology's test CA's server certificate.

One JVM runs every case (a small Java program compiled here):
- verified: `useSsl=true&serverSslCert=<test CA>` (certificate and host
  name checked: Connector/J 2.x's spelling of 3.x's `sslMode=verify-full`);
- trusted: `useSsl=true&trustServerCertificate=true` (3.x's `trust`);
- verified against the JDK's default trust store (not the test CA): refused
  by the client;
- pinned cipher suites: TLS 1.3 with TLS_AES_128_GCM_SHA256 connects; only
  a CBC suite shardcat does not offer fails the handshake (the cipher in
  use is the pinned one);
- no TLS: refused by shardcat with 3159/HY000, as MariaDB with
  require_secure_transport.
Each successful case runs a query that reaches a server.

Needs `java`/`javac` and /usr/share/java/mariadb-java-client.jar (the
test installs libmariadb-java with apt-get when missing and it can).
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

JAR = "/usr/share/java/mariadb-java-client.jar"

JAVA = r"""
import java.sql.*;

public class JdbcTls {
    public static void main(String[] args) {
        String user = args[0], pw = args[1];
        for (int i = 2; i < args.length; i++) {
            String url = args[i];
            try (Connection c = DriverManager.getConnection(url, user, pw);
                 Statement s = c.createStatement();
                 ResultSet r = s.executeQuery("SELECT 6*7, COUNT(*) > 0 FROM information_schema.SCHEMATA")) {
                r.next();
                System.out.println("OK " + r.getInt(1));
            } catch (SQLException e) {
                String m = String.valueOf(e.getMessage()).replace('\n', ' ');
                System.out.println("ERR " + e.getErrorCode() + " " + e.getSQLState() + " " + m);
            }
        }
    }
}
"""


def ensure_jar():
    if os.path.exists(JAR):
        return True
    if shutil.which("apt-get") is None:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "libmariadb-java"], env=env,
                   capture_output=True)
    return os.path.exists(JAR)


def main():
    checks = harness.Checks("JDBC over TLS")
    if shutil.which("javac") is None or shutil.which("java") is None:
        harness.die("java/javac not found")
    if not ensure_jar():
        harness.die(f"{JAR} missing and libmariadb-java could not be installed")
    ca = harness.topology().get("SHARDCAT_TOPO_SSL_CA")
    if not ca:
        harness.die("the topology has no test CA (SHARDCAT_TOPO_SSL_CA)")
    ssl_dir = os.path.dirname(ca)
    proxy = harness.Proxy(server=(
        f'tls_cert = "{ssl_dir}/server.pem"\n'
        f'tls_key = "{ssl_dir}/server.key"\n'
        "require_secure_transport = true\n"))
    work = tempfile.mkdtemp(prefix="shardcat-jdbc-")
    try:
        with open(os.path.join(work, "JdbcTls.java"), "w") as f:
            f.write(JAVA)
        subprocess.run(["javac", "-d", work, os.path.join(work, "JdbcTls.java")], check=True)
        base = f"jdbc:mariadb://127.0.0.1:{proxy.port}/"
        cases = [
            ("verified", f"{base}?useSsl=true&serverSslCert={ca}", "OK 42"),
            ("trusted", f"{base}?useSsl=true&trustServerCertificate=true", "OK 42"),
            ("default trust store refuses the test CA", f"{base}?useSsl=true", "ERR"),
            ("TLS 1.3 AES-128-GCM pinned",
             f"{base}?useSsl=true&serverSslCert={ca}&enabledSslProtocolSuites=TLSv1.3"
             "&enabledSslCipherSuites=TLS_AES_128_GCM_SHA256", "OK 42"),
            ("only a CBC suite: no common cipher",
             f"{base}?useSsl=true&serverSslCert={ca}&enabledSslProtocolSuites=TLSv1.2"
             "&enabledSslCipherSuites=TLS_RSA_WITH_AES_128_CBC_SHA", "ERR"),
            ("no TLS under require_secure_transport", f"{base}?useSsl=false", "ERR 3159 HY000"),
        ]
        cmd = ["java", "-cp", f"{work}:{JAR}", "JdbcTls", harness.PROXY_USER,
               harness.PROXY_PASSWORD] + [url for _, url, _ in cases]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        lines = out.stdout.splitlines()
        checks.ok("one answer per case", len(lines) == len(cases), f"{out.stdout}\n{out.stderr}")
        for (name, _, want), got in zip(cases, lines):
            checks.ok(name, got.startswith(want), f"want {want!r}, got {got!r}")
        log = proxy.log_text(tail=1000)
        checks.ok("refusals logged without the URL's secrets", "password=" not in log
                  and "PRIVATE KEY" not in log, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    checks.finish()


if __name__ == "__main__":
    main()
