// JDBC (MariaDB Connector/J, Debian libmariadb-java) with
// useCursorFetch=true, server-side prepared statements and a fetch size on
// prepared statements about a sharded table. Prints everything the program
// observes (rows, column labels and tables, update counts, errors), one
// line each, so that a run against shardcat and one against a single
// server can be compared line by line (tests/clients/test_jdbc_cursor_fetch.py).
//
// Usage: java -cp mariadb-java-client.jar:DIR JdbcCursorFetch URL USER PASSWORD
import java.sql.*;

public class JdbcCursorFetch {
    static void dump(String tag, ResultSet rs, int limit) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder h = new StringBuilder(tag + " columns:");
        for (int i = 1; i <= md.getColumnCount(); i++) {
            h.append(' ').append(md.getColumnLabel(i)).append('/').append(md.getColumnTypeName(i));
        }
        System.out.println(h);
        int n = 0;
        while ((limit < 0 || n < limit) && rs.next()) {
            StringBuilder r = new StringBuilder(tag + " row:");
            for (int i = 1; i <= md.getColumnCount(); i++) {
                r.append(' ').append(rs.getString(i));
            }
            System.out.println(r);
            n++;
        }
        System.out.println(tag + " read " + n);
    }

    public static void main(String[] a) throws Exception {
        try (Connection c = DriverManager.getConnection(a[0], a[1], a[2])) {
            String[][] stmts = {
                {"SELECT id, name FROM ct ORDER BY id", null},
                {"SELECT g, COUNT(*), SUM(id) FROM ct GROUP BY g ORDER BY g", null},
                {"SELECT DISTINCT g FROM ct ORDER BY g DESC", null},
                {"SELECT id, name FROM ct WHERE id > ? ORDER BY id DESC LIMIT 7", "10"},
                {"SELECT id, name FROM ct WHERE id = ?", "5"},
                {"SELECT id FROM ct WHERE id < 0", null},
            };
            for (int fetch : new int[] {1, 3, 50}) {
                for (String[] s : stmts) {
                    try (PreparedStatement ps = c.prepareStatement(s[0])) {
                        ps.setFetchSize(fetch);
                        if (s[1] != null) ps.setInt(1, Integer.parseInt(s[1]));
                        for (int round = 0; round < 2; round++) {
                            try (ResultSet rs = ps.executeQuery()) {
                                dump("fetch=" + fetch + " round=" + round + " " + s[0], rs, -1);
                            }
                        }
                    } catch (SQLException e) {
                        System.out.println("error " + s[0] + ": " + e.getErrorCode() + " " + e.getSQLState());
                    }
                }
            }
            // A result read in part, another statement meanwhile, then the rest.
            try (PreparedStatement p1 = c.prepareStatement("SELECT id, name FROM ct ORDER BY id");
                 PreparedStatement p2 = c.prepareStatement("SELECT COUNT(*) FROM ct WHERE g = ?")) {
                p1.setFetchSize(4);
                try (ResultSet r1 = p1.executeQuery()) {
                    dump("interleaved first part", r1, 5);
                    p2.setInt(1, 2);
                    try (ResultSet r2 = p2.executeQuery()) {
                        dump("interleaved other", r2, -1);
                    }
                    dump("interleaved rest", r1, -1);
                }
            }
            // Writes and a read in one transaction with the same fetch size.
            c.setAutoCommit(false);
            try (PreparedStatement up = c.prepareStatement("UPDATE ct SET name = CONCAT(name, '+') WHERE g = ?");
                 PreparedStatement rd = c.prepareStatement("SELECT id, name FROM ct WHERE name LIKE '%+' ORDER BY id")) {
                up.setInt(1, 1);
                System.out.println("update count " + up.executeUpdate());
                rd.setFetchSize(2);
                try (ResultSet rs = rd.executeQuery()) {
                    dump("in transaction", rs, -1);
                }
            }
            c.rollback();
            c.setAutoCommit(true);
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM ct WHERE name LIKE '%+'")) {
                dump("after rollback", rs, -1);
            }
        }
    }
}
