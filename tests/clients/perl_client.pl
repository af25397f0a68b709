#!/usr/bin/perl
# A Perl program using DBI with DBD::MariaDB (client-side placeholders and
# server-side prepares), run by test_php_perl.py once against `ref` and once
# through shardcat; every line it prints is compared.
# Usage: perl perl_client.pl HOST PORT USER PASSWORD DATABASE
use strict;
use warnings;
use utf8;
use DBI;
use JSON::PP;

my ($host, $port, $user, $pass, $db) = @ARGV;
my $json = JSON::PP->new->canonical->allow_nonref->utf8;
binmode STDOUT;

sub out {
    my ($k, $v) = @_;
    print $k, "\t", $json->encode($v), "\n";
}

my @values = ("plain", "O'Brien", "back\\slash", "quote\"d", "日本語", "😀", "", "tab\there", "nl\nx");
my @queries = (
    "SELECT id, g, name, amount, d FROM pt ORDER BY id",
    "SELECT g, COUNT(*) AS n, SUM(amount) AS total, MIN(name) FROM pt GROUP BY g ORDER BY g",
    "SELECT DISTINCT g FROM pt ORDER BY g DESC",
    "SELECT id, name FROM pt ORDER BY name, id LIMIT 4 OFFSET 2",
    "SELECT COUNT(*), MAX(amount) FROM pt",
    "SELECT * FROM pt WHERE id = -1",
);

for my $server_prepare (0, 1) {
    my $tag = $server_prepare ? "server-prepare" : "client-placeholders";
    my $dbh = DBI->connect(
        "DBI:MariaDB:database=$db;host=$host;port=$port",
        $user, $pass,
        { RaiseError => 0, PrintError => 0, AutoCommit => 1, mariadb_server_prepare => $server_prepare },
    ) or do { out("connect", $DBI::errstr); exit 1 };
    my $base = $server_prepare ? 1000 : 0;
    my $sth = $dbh->prepare("INSERT INTO pt (id, g, name, amount, d) VALUES (?, ?, ?, ?, ?)");
    for my $i (0 .. $#values) {
        my $id = $base + $i + 1;
        my $rv = $sth->execute($id, $id % 3, $values[$i], $id * 1.5, sprintf("2024-03-%02d", $i + 1));
        out("$tag insert $id", [$rv, $sth->rows]);
    }
    out("$tag insert NULLs", [$sth->execute($base + 50, 1, undef, undef, undef) + 0]);
    my $rv = $dbh->do("INSERT INTO pt (id, g, name) VALUES (?, 1, 'a'), (?, 2, 'b'), (?, 0, 'c')",
        undef, $base + 200, $base + 201, $base + 202);
    out("$tag multi-row do", [$rv]);
    $rv = $dbh->do("UPDATE pt SET amount = amount + 1 WHERE g = ?", undef, 1);
    out("$tag scattered update", [$rv]);
    for my $q (@queries) {
        my $s = $dbh->prepare($q);
        if (!$s || !$s->execute) {
            out("$tag query $q", [$dbh->err, $dbh->state]);
            next;
        }
        out("$tag names $q", $s->{NAME});
        out("$tag types $q", $s->{TYPE});
        out("$tag rows $q", $s->fetchall_arrayref);
    }
    my $s = $dbh->prepare("SELECT id, name FROM pt WHERE g = ? AND id > ? ORDER BY id");
    for my $g (0, 1, 2) {
        $s->execute($g, 3);
        out("$tag select g=$g", $s->fetchall_arrayref({}));
    }
    $s = $dbh->prepare("SELECT g, COUNT(*) FROM pt WHERE name LIKE ? GROUP BY g ORDER BY g");
    $s->execute("%a%");
    out("$tag grouped like", $s->fetchall_arrayref);
    $rv = $dbh->do("INSERT INTO pt (id, g, name) VALUES (1, 1, 'dup')");
    out("$tag duplicate key", [$rv, $dbh->err, $dbh->state]);
    $dbh->begin_work;
    $dbh->do("INSERT INTO pt (id, g, name) VALUES (?, 0, 't1'), (?, 1, 't2')", undef, $base + 300, $base + 301);
    $dbh->rollback;
    out("$tag after rollback", $dbh->selectrow_arrayref("SELECT COUNT(*) FROM pt WHERE id >= 300"));
    $dbh->begin_work;
    $dbh->do("INSERT INTO pt (id, g, name) VALUES (?, 0, 't1'), (?, 1, 't2')", undef, $base + 310, $base + 311);
    $dbh->commit;
    out("$tag after commit", $dbh->selectrow_arrayref("SELECT COUNT(*) FROM pt WHERE id >= 300"));
    $dbh->do("INSERT INTO pu (name) VALUES ('x')");
    out("$tag last_insert_id", [$dbh->last_insert_id(undef, undef, undef, undef), $dbh->{mariadb_insertid}]);
    $dbh->do("SET SESSION sql_mode = ''");
    $dbh->do("INSERT INTO pt (id, g, name) VALUES (?, 0, REPEAT('y', 50)), (?, 1, REPEAT('z', 60))",
        undef, $base + 400, $base + 401);
    out("$tag warning_count", $dbh->{mariadb_warning_count});
    out("$tag show warnings", $dbh->selectall_arrayref("SHOW WARNINGS"));
    out("$tag rows at end", $dbh->selectall_arrayref("SELECT id, g, name, amount, d FROM pt ORDER BY id"));
    $dbh->disconnect;
}
