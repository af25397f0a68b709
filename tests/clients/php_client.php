<?php
// A PHP program using mysqli (text and prepared) and PDO (emulated and
// native prepares), run by test_php_perl.py once against `ref` and once
// through shardcat; every line it prints is compared.
// Usage: php php_client.php HOST PORT USER PASSWORD DATABASE

[$_, $host, $port, $user, $pass, $db] = $argv;
mysqli_report(MYSQLI_REPORT_OFF);

function out($k, $v)
{
    echo $k, "\t", json_encode($v, JSON_INVALID_UTF8_SUBSTITUTE | JSON_PRESERVE_ZERO_FRACTION), "\n";
}

$values = ["plain", "O'Brien", "back\\slash", "quote\"d", "日本語", "😀", "", "tab\there", "nl\nx", "%_like"];
$queries = [
    "SELECT id, g, name, amount, d FROM pt ORDER BY id",
    "SELECT g, COUNT(*) AS n, SUM(amount) AS total, MIN(name), MAX(d) FROM pt GROUP BY g ORDER BY g",
    "SELECT DISTINCT g FROM pt ORDER BY g DESC",
    "SELECT id, name FROM pt ORDER BY name, id LIMIT 4 OFFSET 2",
    "SELECT COUNT(*), AVG(amount) FROM pt",
    "SELECT p.id AS pid, p.name FROM pt AS p WHERE p.id = 3",
    "SELECT * FROM pt WHERE id = -1",
    "SELECT id FROM pt WHERE name LIKE '%\\_like' ORDER BY id",
];

$m = new mysqli($host, $user, $pass, $db, (int)$port);
if ($m->connect_errno) {
    out("connect", $m->connect_error);
    exit(1);
}
$m->set_charset("utf8mb4");
foreach ($values as $i => $v) {
    $id = $i + 1;
    $sql = sprintf(
        "INSERT INTO pt (id, g, name, amount, d) VALUES (%d, %d, '%s', %s, '2024-01-%02d')",
        $id,
        $id % 3,
        $m->real_escape_string($v),
        $id * 1.25,
        $id
    );
    $ok = $m->query($sql);
    out("mysqli text insert $id", [$ok, $m->affected_rows, $m->warning_count, $m->info]);
}
$st = $m->prepare("INSERT INTO pt (id, g, name, amount, d) VALUES (?, ?, ?, ?, ?)");
foreach ($values as $i => $v) {
    $id = 100 + $i;
    $g = $id % 3;
    $amt = $id / 4;
    $d = sprintf("2024-02-%02d", $i + 1);
    $st->bind_param("iisds", $id, $g, $v, $amt, $d);
    $ok = $st->execute();
    out("mysqli prepared insert $id", [$ok, $st->affected_rows]);
}
$null = null;
$id = 150;
$g = 0;
$st->bind_param("iisds", $id, $g, $null, $null, $null);
out("mysqli prepared insert NULLs", [$st->execute(), $st->affected_rows]);
$st->close();

$ok = $m->query("INSERT INTO pt (id, g, name) VALUES (200, 1, 'a'), (201, 2, 'b'), (202, 0, 'c')");
out("mysqli multi-row insert", [$ok, $m->affected_rows, $m->info]);
$ok = $m->query("UPDATE pt SET amount = amount + 1 WHERE g = 1");
out("mysqli scattered update", [$ok, $m->affected_rows, $m->info]);
$ok = $m->query("DELETE FROM pt WHERE id IN (201, 202)");
out("mysqli delete", [$ok, $m->affected_rows]);

foreach ($queries as $q) {
    $r = $m->query($q);
    if (!$r) {
        out("mysqli query $q", [$m->errno, $m->sqlstate]);
        continue;
    }
    $fields = array_map(
        fn ($f) => [$f->name, $f->orgname, $f->table, $f->orgtable, $f->db, $f->type, $f->charsetnr],
        $r->fetch_fields()
    );
    out("mysqli fields $q", $fields);
    out("mysqli rows $q", $r->fetch_all(MYSQLI_NUM));
}
$st = $m->prepare("SELECT id, name, amount, d FROM pt WHERE g = ? ORDER BY id");
foreach ([0, 1, 2] as $g) {
    $st->bind_param("i", $g);
    $st->execute();
    $r = $st->get_result();
    out("mysqli prepared select g=$g", $r->fetch_all(MYSQLI_ASSOC));
}
$st->close();
$st = $m->prepare("SELECT g, COUNT(*), SUM(amount) FROM pt WHERE id > ? GROUP BY g ORDER BY g");
$min = 3;
$st->bind_param("i", $min);
$st->execute();
$st->bind_result($a, $b, $c);
$rows = [];
while ($st->fetch()) {
    $rows[] = [$a, $b, $c];
}
out("mysqli prepared bind_result aggregate", $rows);
$st->close();

$ok = $m->query("INSERT INTO pt (id, g, name) VALUES (1, 1, 'dup')");
out("mysqli duplicate key", [$ok, $m->errno, $m->sqlstate, $m->error]);
$ok = $m->query("SELECT nosuchcolumn FROM pt");
out("mysqli unknown column", [$ok, $m->errno, $m->sqlstate, $m->error]);

$m->begin_transaction();
$m->query("INSERT INTO pt (id, g, name) VALUES (300, 0, 't1'), (301, 1, 't2')");
$m->rollback();
out("mysqli after rollback", $m->query("SELECT COUNT(*) FROM pt WHERE id >= 300")->fetch_row());
$m->begin_transaction();
$m->query("INSERT INTO pt (id, g, name) VALUES (310, 0, 't1'), (311, 1, 't2')");
$m->commit();
out("mysqli after commit", $m->query("SELECT COUNT(*) FROM pt WHERE id >= 300")->fetch_row());

$m->query("INSERT INTO pu (name) VALUES ('x')");
out("mysqli insert_id", $m->insert_id);
$m->query("SET SESSION sql_mode = ''");
$m->query("INSERT INTO pt (id, g, name) VALUES (400, 0, REPEAT('y', 50)), (401, 1, REPEAT('z', 60))");
out("mysqli warning_count", $m->warning_count);
$w = $m->get_warnings();
$seen = [];
while ($w) {
    $seen[] = [$w->errno, $w->sqlstate];
    if (!$w->next()) {
        break;
    }
}
out("mysqli get_warnings", $seen);
$m->close();

foreach ([true, false] as $emulate) {
    $pdo = new PDO(
        "mysql:host=$host;port=$port;dbname=$db;charset=utf8mb4",
        $user,
        $pass,
        [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_EMULATE_PREPARES => $emulate]
    );
    $tag = $emulate ? "pdo emulated" : "pdo native";
    $s = $pdo->prepare("SELECT id, name, amount FROM pt WHERE id IN (?, ?, ?) ORDER BY id");
    $s->execute([1, 101, 5]);
    out("$tag in-list", $s->fetchAll(PDO::FETCH_NUM));
    $meta = [];
    for ($i = 0; $i < $s->columnCount(); $i++) {
        $cm = $s->getColumnMeta($i);
        $meta[] = [$cm["name"], $cm["table"], $cm["native_type"] ?? null, $cm["pdo_type"], $cm["len"]];
    }
    out("$tag column meta", $meta);
    $s = $pdo->prepare("SELECT g, COUNT(*) AS n FROM pt WHERE name <> :skip GROUP BY g ORDER BY n DESC, g");
    $s->execute([":skip" => "plain"]);
    out("$tag named grouped", $s->fetchAll(PDO::FETCH_ASSOC));
    $s = $pdo->prepare("UPDATE pt SET g = g WHERE id BETWEEN ? AND ?");
    $s->execute([1, 120]);
    out("$tag update rowCount", $s->rowCount());
    $n = 500 + ($emulate ? 0 : 1);
    $s = $pdo->prepare("INSERT INTO pt (id, g, name, amount) VALUES (?, ?, ?, ?)");
    $s->bindValue(1, $n, PDO::PARAM_INT);
    $s->bindValue(2, 2, PDO::PARAM_INT);
    $s->bindValue(3, "pdo 'x' \\ 😀", PDO::PARAM_STR);
    $s->bindValue(4, null, PDO::PARAM_NULL);
    $s->execute();
    out("$tag insert", [$s->rowCount(), $pdo->query("SELECT name, amount FROM pt WHERE id = $n")->fetch(PDO::FETCH_NUM)]);
    try {
        $s->execute();
        out("$tag duplicate", "no error");
    } catch (PDOException $e) {
        out("$tag duplicate", [$e->getCode(), $e->errorInfo[1]]);
    }
    $pdo->beginTransaction();
    $pdo->exec("DELETE FROM pt WHERE id < 5");
    out("$tag in tx", $pdo->query("SELECT COUNT(*) FROM pt")->fetchColumn());
    $pdo->rollBack();
    out("$tag after rollBack", $pdo->query("SELECT COUNT(*) FROM pt")->fetchColumn());
    $pdo->exec("INSERT INTO pu (name) VALUES ('y')");
    out("$tag lastInsertId", $pdo->lastInsertId());
    $s = $pdo->query("SELECT id, name FROM pt ORDER BY id DESC LIMIT 3");
    out("$tag query", $s->fetchAll(PDO::FETCH_NUM));
}
