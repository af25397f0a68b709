//! Tests of the lexer.

use super::*;
use TokenKind::*;

/// All tokens, trivia included, as (kind, text).
fn lex(sql: &str) -> Vec<(TokenKind, &str)> {
    tokenize(sql)
        .iter()
        .map(|t| (t.kind, t.text(sql)))
        .collect()
}

fn lex_with(sql: &str, opts: LexOptions) -> Vec<(TokenKind, &str)> {
    Lexer::with_options(sql.as_bytes(), opts)
        .map(|t| (t.kind, t.text(sql)))
        .collect()
}

#[test]
fn words_and_identifiers() {
    let cases: &[(&str, &[(TokenKind, &str)])] = &[
        ("SELECT a", &[(Word, "SELECT"), (Word, "a")]),
        ("t1.c_2", &[(Word, "t1"), (Punct, "."), (Word, "c_2")]),
        ("$x 1abc", &[(Word, "$x"), (Word, "1abc")]),
        ("`a b`", &[(QuotedIdent, "`a b`")]),
        (
            "`a``b`.c",
            &[(QuotedIdent, "`a``b`"), (Punct, "."), (Word, "c")],
        ),
        ("tëst ü", &[(Word, "tëst"), (Word, "ü")]),
        (
            "db.`t`",
            &[(Word, "db"), (Punct, "."), (QuotedIdent, "`t`")],
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(lex(sql), *want, "{sql}");
    }
}

#[test]
fn strings() {
    let cases: &[(&str, &[(TokenKind, &str)])] = &[
        ("'a'", &[(String, "'a'")]),
        (r"'a\'b' x", &[(String, r"'a\'b'"), (Word, "x")]),
        ("'a''b' x", &[(String, "'a''b'"), (Word, "x")]),
        (r#""a\"b""c" x"#, &[(String, r#""a\"b""c""#), (Word, "x")]),
        (r"'\\' x", &[(String, r"'\\'"), (Word, "x")]),
        ("_utf8mb4'x' y", &[(String, "_utf8mb4'x'"), (Word, "y")]),
        ("_binary\"x\"", &[(String, "_binary\"x\"")]),
        ("_latin1 'x'", &[(Word, "_latin1"), (String, "'x'")]),
        ("N'x' n'y'", &[(String, "N'x'"), (String, "n'y'")]),
        ("'; -- FOR UPDATE'", &[(String, "'; -- FOR UPDATE'")]),
        ("'ü;'", &[(String, "'ü;'")]),
    ];
    for (sql, want) in cases {
        assert_eq!(lex(sql), *want, "{sql}");
    }
}

#[test]
fn numbers() {
    let cases: &[(&str, &[(TokenKind, &str)])] = &[
        (
            "1 12.5 .5 1e10 1.5E-3 2e+2",
            &[
                (Number, "1"),
                (Number, "12.5"),
                (Number, ".5"),
                (Number, "1e10"),
                (Number, "1.5E-3"),
                (Number, "2e+2"),
            ],
        ),
        (
            "0x1F X'1f' x'' 0b101 b'01' B'1'",
            &[
                (HexNumber, "0x1F"),
                (HexNumber, "X'1f'"),
                (HexNumber, "x''"),
                (BitNumber, "0b101"),
                (BitNumber, "b'01'"),
                (BitNumber, "B'1'"),
            ],
        ),
        (
            "0xZZ 0b12 1e",
            &[(Word, "0xZZ"), (Word, "0b12"), (Word, "1e")],
        ),
        ("t.5", &[(Word, "t"), (Punct, "."), (Number, "5")]),
        ("1-1", &[(Number, "1"), (Punct, "-"), (Number, "1")]),
        (
            "1--1",
            &[(Number, "1"), (Punct, "-"), (Punct, "-"), (Number, "1")],
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(lex(sql), *want, "{sql}");
    }
}

#[test]
fn variables_placeholders_operators() {
    let cases: &[(&str, &[(TokenKind, &str)])] = &[
        (
            "@x @`a b` @'y' @\"z\" @a.b",
            &[
                (UserVar, "@x"),
                (UserVar, "@`a b`"),
                (UserVar, "@'y'"),
                (UserVar, "@\"z\""),
                (UserVar, "@a.b"),
            ],
        ),
        (
            "@@x @@session.x @@GLOBAL.`y`",
            &[
                (SystemVar, "@@x"),
                (SystemVar, "@@session.x"),
                (SystemVar, "@@GLOBAL.`y`"),
            ],
        ),
        (
            "@r:=@r+1",
            &[
                (UserVar, "@r"),
                (Punct, ":="),
                (UserVar, "@r"),
                (Punct, "+"),
                (Number, "1"),
            ],
        ),
        (
            "a<=>b<=c<>d!=e->>f->g",
            &[
                (Word, "a"),
                (Punct, "<=>"),
                (Word, "b"),
                (Punct, "<="),
                (Word, "c"),
                (Punct, "<>"),
                (Word, "d"),
                (Punct, "!="),
                (Word, "e"),
                (Punct, "->>"),
                (Word, "f"),
                (Punct, "->"),
                (Word, "g"),
            ],
        ),
        (
            "id=? AND ?",
            &[
                (Word, "id"),
                (Punct, "="),
                (Placeholder, "?"),
                (Word, "AND"),
                (Placeholder, "?"),
            ],
        ),
        ("'u'@'h'", &[(String, "'u'"), (UserVar, "@'h'")]),
        ("@ ;", &[(Punct, "@"), (Punct, ";")]),
    ];
    for (sql, want) in cases {
        assert_eq!(lex(sql), *want, "{sql}");
    }
}

#[test]
fn comments() {
    let cases: &[(&str, &[(TokenKind, &str)])] = &[
        ("a -- c\nb", &[(Word, "a"), (Comment, "-- c"), (Word, "b")]),
        ("a --", &[(Word, "a"), (Comment, "--")]),
        ("a --\tx", &[(Word, "a"), (Comment, "--\tx")]),
        (
            "a # c ; d\nb",
            &[(Word, "a"), (Comment, "# c ; d"), (Word, "b")],
        ),
        (
            "a /* c ; */ b",
            &[(Word, "a"), (Comment, "/* c ; */"), (Word, "b")],
        ),
        ("/**/a", &[(Comment, "/**/"), (Word, "a")]),
        (
            "SELECT /*+ BKA(t) */ 1",
            &[(Word, "SELECT"), (Hint, "/*+ BKA(t) */"), (Number, "1")],
        ),
        (
            "/*!40101 SET x=1 */;",
            &[
                (ExecCommentOpen, "/*!40101"),
                (Word, "SET"),
                (Word, "x"),
                (Punct, "="),
                (Number, "1"),
                (ExecCommentClose, "*/"),
                (Punct, ";"),
            ],
        ),
        (
            "/*!SET*/",
            &[
                (ExecCommentOpen, "/*!"),
                (Word, "SET"),
                (ExecCommentClose, "*/"),
            ],
        ),
        (
            "/*!50100SET*/",
            &[
                (ExecCommentOpen, "/*!50100"),
                (Word, "SET"),
                (ExecCommentClose, "*/"),
            ],
        ),
        (
            "/*M!100101 SET x=1*/",
            &[
                (ExecCommentOpen, "/*M!100101"),
                (Word, "SET"),
                (Word, "x"),
                (Punct, "="),
                (Number, "1"),
                (ExecCommentClose, "*/"),
            ],
        ),
        (
            "/*!40101 '*/' */",
            &[
                (ExecCommentOpen, "/*!40101"),
                (String, "'*/'"),
                (ExecCommentClose, "*/"),
            ],
        ),
        (
            "a*/b",
            &[(Word, "a"), (Punct, "*"), (Punct, "/"), (Word, "b")],
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(lex(sql), *want, "{sql}");
    }
}

#[test]
fn unterminated_tokens_are_marked() {
    let cases: &[(&str, TokenKind)] = &[
        ("'abc", String),
        ("'abc\\'", String),
        ("\"abc", String),
        ("`abc", QuotedIdent),
        ("/* abc", Comment),
        ("/*+ abc", Hint),
        ("@`abc", UserVar),
        ("X'ab", HexNumber),
        ("_utf8'x", String),
    ];
    for (sql, kind) in cases {
        let toks = tokenize(sql);
        assert_eq!(toks.len(), 1, "{sql}: {toks:?}");
        assert_eq!(toks[0].kind, *kind, "{sql}");
        assert!(toks[0].unterminated, "{sql}");
        assert_eq!(toks[0].span(), 0..sql.len(), "{sql}");
    }
    assert!(!tokenize("'a'")[0].unterminated);
}

#[test]
fn sql_mode_options() {
    let nbe = LexOptions {
        no_backslash_escapes: true,
        ..LexOptions::default()
    };
    assert_eq!(
        lex_with(r"'a\' ; 'b'", nbe),
        [(String, r"'a\'"), (Punct, ";"), (String, "'b'")]
    );
    let ansi = LexOptions {
        ansi_quotes: true,
        ..LexOptions::default()
    };
    assert_eq!(
        lex_with(r#""t" 'x'"#, ansi),
        [(QuotedIdent, r#""t""#), (String, "'x'")]
    );
}

#[test]
fn unquote_names() {
    assert_eq!(unquote(b"`a``b`"), "a`b");
    assert_eq!(unquote(b"abc"), "abc");
    assert_eq!(unquote(b"'it''s'"), "it's");
    assert_eq!(unquote(br"'it\'s'"), "it's");
    assert_eq!(unquote(b"`unterminated"), "unterminated");
    assert_eq!(unquote(b"`"), "");
    assert_eq!(unquote(b""), "");
}

#[test]
fn spans_cover_input_and_fall_on_char_boundaries() {
    let sql = "SELECT 'ü', `é` /* ö */ FROM tëst WHERE x = _utf8mb4'ß' -- ñ\n;";
    let mut last = 0;
    for t in tokenize(sql) {
        assert!(t.start >= last && t.end > t.start, "{t:?}");
        assert!(sql.is_char_boundary(t.start) && sql.is_char_boundary(t.end));
        assert!(sql[last..t.start].bytes().all(is_space));
        last = t.end;
    }
    assert_eq!(last, sql.len());
}

#[test]
fn arbitrary_bytes_terminate() {
    // Deterministic LCG; every byte value, including NUL and invalid
    // UTF-8, must be consumed without panicking.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..300 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        let mut end = 0;
        for t in Lexer::new(&bytes) {
            assert!(t.start >= end && t.end > t.start && t.end <= bytes.len());
            end = t.end;
        }
    }
}
