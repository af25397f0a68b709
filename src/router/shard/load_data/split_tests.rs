//! Row boundaries and key fields as MariaDB's `READ_INFO` finds them.

use super::*;

fn csv() -> Format {
    Format {
        field_term: b",".to_vec(),
        enclosed: Some(b'"'),
        escape: Some(b'\\'),
        line_start: Vec::new(),
        line_term: b"\n".to_vec(),
    }
}

fn rows(
    data: &str,
    f: &Format,
    ignore: u64,
    fields: usize,
    want: usize,
) -> Vec<(String, Option<Field>)> {
    let (_, rows) = split_rows(data.as_bytes(), f, ignore, fields, want);
    rows.into_iter()
        .map(|r| (data[r.chunk].to_owned(), r.field))
        .collect()
}

fn v(s: &str) -> Option<Field> {
    Some(Field::Value(s.as_bytes().to_vec()))
}

#[test]
fn tab_separated_with_escapes_and_null() {
    let f = Format::default();
    let got = rows("1\ta\\tb\n\\N\tx\n3\t\\\n", &f, 0, 2, 0);
    assert_eq!(
        got,
        vec![
            ("1\ta\\tb\n".into(), v("1")),
            ("\\N\tx\n".into(), Some(Field::Null)),
            ("3\t\\\n".into(), v("3")),
        ]
    );
    // An escaped newline does not end the row.
    let got = rows("7\tline\\\nnext\n8\tz", &f, 0, 2, 1);
    assert_eq!(
        got,
        vec![
            ("7\tline\\\nnext\n".into(), v("line\nnext")),
            ("8\tz".into(), v("z"))
        ]
    );
}

#[test]
fn enclosed_fields_keep_terminators_and_doubled_quotes() {
    let got = rows(
        "\"1\",\"a,\n\"\"b\"\"\"\n2,\"NULL\"\n3,NULL\n",
        &csv(),
        0,
        2,
        1,
    );
    assert_eq!(
        got,
        vec![
            ("\"1\",\"a,\n\"\"b\"\"\"\n".into(), v("a,\n\"b\"")),
            ("2,\"NULL\"\n".into(), v("NULL")),
            ("3,NULL\n".into(), Some(Field::Null)),
        ]
    );
    // A quote not followed by a terminator is part of the value.
    let got = rows("\"a\"b\",1\n", &csv(), 0, 2, 0);
    assert_eq!(got, vec![("\"a\"b\",1\n".into(), v("a\"b"))]);
}

#[test]
fn extra_fields_are_skipped_without_honouring_quotes() {
    // Two columns, three fields: the rest of the line is skipped by
    // `next_line`, which ignores enclosures (a quoted newline ends the row).
    let got = rows("1,a,\"x\ny\"\n2,b\n", &csv(), 0, 2, 0);
    assert_eq!(
        got,
        vec![
            ("1,a,\"x\n".into(), v("1")),
            ("y\"\n".into(), v("y\"")),
            ("2,b\n".into(), v("2")),
        ]
    );
}

#[test]
fn ignore_lines_and_line_prefixes() {
    let f = Format {
        line_start: b"xxx".to_vec(),
        ..csv()
    };
    let (head, got) = split_rows(b"h1\nh2\nxxx1,a\nnoise\nzzxxx2,b\nxxx", &f, 2, 2, 0);
    assert_eq!(head, 0..6);
    let keys: Vec<_> = got.iter().map(|r| r.field.clone()).collect();
    assert_eq!(keys, vec![v("1"), v("2")]);
    // Rows without the prefix are skipped inside the chunk of the next row.
    assert_eq!(got[1].chunk, 13..28);
    // A short row has no key field; an empty line is a row.
    let got = rows("1\n\n", &csv(), 0, 2, 1);
    assert_eq!(got, vec![("1\n".into(), None), ("\n".into(), None)]);
}

#[test]
fn multi_byte_terminators_and_crlf() {
    let f = Format {
        field_term: b"||".to_vec(),
        line_term: b"\r\n".to_vec(),
        ..csv()
    };
    let got = rows("1||a|b\r\n2||c\nd\r\n", &f, 0, 2, 1);
    assert_eq!(
        got,
        vec![
            ("1||a|b\r\n".into(), v("a|b")),
            ("2||c\nd\r\n".into(), v("c\nd"))
        ]
    );
}

/// Generated rows: what the splitter reads back is what was written, and
/// the chunks tile the file.
#[test]
fn generated_rows_round_trip() {
    let pieces = [
        "",
        "a",
        "\"",
        "\\",
        ",",
        "\n",
        "\t",
        "NULL",
        "é€😀",
        "\"\"",
        "x\r",
    ];
    let mut seed = 7u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..300 {
        let mut file = Vec::new();
        let mut want = Vec::new();
        for _ in 0..(next() % 6) {
            let mut value = String::new();
            for _ in 0..(next() % 4) {
                value.push_str(pieces[next() % pieces.len()]);
            }
            let id = next() % 1000;
            // Enclosed, quotes doubled, backslashes escaped.
            let enc = value.replace('\\', "\\\\").replace('"', "\"\"");
            file.extend_from_slice(format!("{id},\"{enc}\"\n").as_bytes());
            want.push((id.to_string(), value));
        }
        let (_, got) = split_rows(&file, &csv(), 0, 2, 1);
        assert_eq!(got.len(), want.len(), "{}", String::from_utf8_lossy(&file));
        let mut at = 0;
        for (row, (id, value)) in got.iter().zip(&want) {
            assert_eq!(row.chunk.start, at);
            at = row.chunk.end;
            assert_eq!(row.field, v(value));
            assert!(file[row.chunk.clone()].starts_with(id.as_bytes()));
        }
        assert_eq!(at, file.len());
    }
}
