//! What a statement acts on, for the privilege check: the tables it
//! writes and reads (qualified with the current database), the database
//! it acts on as a whole, its DDL verb, the routine it calls.
//!
//! Owns: turning SQL text into [`StatementObjects`] with the existing
//! lexer and sqlparser facade (`crate::sql`). Must not decide what is
//! allowed (that is [`super::privileges`]). Whatever cannot be determined
//! is an `Err(reason)`: the caller refuses the statement for users with a
//! privilege list rather than guess.

use crate::sql::{self, Classified, LexOptions, Lexer, StatementKind, Token, TokenKind};

/// A table (or routine) name qualified with its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub db: String,
    pub name: String,
}

impl TableName {
    pub fn new(db: &str, name: &str) -> TableName {
        TableName {
            db: db.to_string(),
            name: name.to_string(),
        }
    }
}

/// The DDL verb of a `CREATE`/`ALTER`/`DROP`/`TRUNCATE`/`RENAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdlVerb {
    Create,
    Drop,
    Alter,
    /// `RENAME TABLE`: DROP and ALTER on the old names, CREATE and
    /// INSERT on the new ones; checked as all four on every name.
    Rename,
    /// `CREATE INDEX` / `DROP INDEX`.
    Index,
    /// Objects with a definer or outside the table model (views, routines,
    /// triggers, events, users, roles, servers…): admin only.
    AdminOnly(&'static str),
}

/// The objects of one statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementObjects {
    /// Tables the statement changes (the INSERT/UPDATE/DELETE target,
    /// every name of a DDL statement).
    pub targets: Vec<TableName>,
    /// Tables it only reads.
    pub reads: Vec<TableName>,
    /// A database acted on as a whole (`USE`, `SHOW TABLES FROM`,
    /// `CREATE`/`DROP`/`ALTER DATABASE`).
    pub database: Option<String>,
    /// For DDL statements.
    pub ddl: Option<DdlVerb>,
    /// `CALL db.p()`.
    pub routine: Option<TableName>,
    /// `INSERT … ON DUPLICATE KEY UPDATE` (needs UPDATE too).
    pub upsert: bool,
    /// Reads nothing a privilege covers (`GET DIAGNOSTICS`, `SHOW
    /// CHARACTER SET`, `SHOW ENGINES`…).
    pub harmless: bool,
    /// Reveals or changes the servers beyond the user's tables (`SHOW
    /// PROCESSLIST`, `SHOW MASTER STATUS`…): admin only; the privilege
    /// MySQL would ask for.
    pub admin_only: Option<&'static str>,
}

/// The system schemas: reachable only when named in a privilege entry.
/// `shardcat` holds the XA decision log (`execute::xa`): a client able to
/// write it could forge the outcome of other sessions' transactions.
pub const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "performance_schema", "sys", "shardcat"];

/// `information_schema`: readable by everyone (as in MySQL).
pub fn is_information_schema(db: &str) -> bool {
    db.eq_ignore_ascii_case("information_schema")
}

/// Why the objects of a statement are not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unknown {
    /// An unqualified name and no current database (MySQL: 1046).
    NoDatabase,
    /// The text could not be analysed.
    Unparsed(String),
}

impl From<&str> for Unknown {
    fn from(s: &str) -> Unknown {
        Unknown::Unparsed(s.to_string())
    }
}

impl From<String> for Unknown {
    fn from(s: String) -> Unknown {
        Unknown::Unparsed(s)
    }
}

/// Finds the objects of the single statement `text` (classified as `c`),
/// resolving unqualified names against `current_db`.
pub fn analyze(
    text: &str,
    c: &Classified,
    current_db: Option<&str>,
    opts: LexOptions,
) -> Result<StatementObjects, Unknown> {
    if opts.ansi_quotes || opts.no_backslash_escapes {
        // sqlparser reads quotes and backslashes the default way: text it
        // would read differently from the server is not analysed.
        if text.contains(['"', '\\']) {
            return Err("ANSI_QUOTES/NO_BACKSLASH_ESCAPES text with quotes or backslashes".into());
        }
    }
    let src = text.as_bytes();
    let toks: Vec<Token> = Lexer::with_options(src, opts)
        .filter(|t| !t.is_trivia())
        .collect();
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(src, k));
    let resolve = |schema: Option<&str>, name: &str| -> Result<TableName, Unknown> {
        match schema.or(current_db) {
            Some(db) => Ok(TableName::new(db, name)),
            None => Err(Unknown::NoDatabase),
        }
    };
    let mut o = StatementObjects::default();
    match &c.kind {
        StatementKind::Use { database } => {
            o.database = Some(database.clone());
            return Ok(o);
        }
        StatementKind::Show(sql::ShowKind::Other) if !shows_table(&toks, src) => {
            match show_other(&toks, src) {
                ShowOther::Harmless => o.harmless = true,
                ShowOther::AdminOnly(p) => o.admin_only = Some(p),
                ShowOther::Database => {
                    o.database = Some(
                        show_from_db(&toks, src)
                            .or_else(|| current_db.map(str::to_string))
                            .ok_or(Unknown::NoDatabase)?,
                    )
                }
            }
            return Ok(o);
        }
        StatementKind::Other if kw(0, "GET") && !c.flags.temporary_table => {
            o.harmless = true;
            return Ok(o);
        }
        StatementKind::Show(sql::ShowKind::Tables) => {
            o.database = show_from_db(&toks, src)
                .or_else(|| current_db.map(str::to_string))
                .map(Some)
                .ok_or(Unknown::NoDatabase)?;
            return Ok(o);
        }
        StatementKind::Call => {
            let (db, name) = qualified_at(&toks, src, 1).ok_or("CALL without a name")?;
            o.routine = Some(resolve(db.as_deref(), &name)?);
            return Ok(o);
        }
        StatementKind::Handler => {
            let (db, name) = qualified_at(&toks, src, 1).ok_or("HANDLER without a table")?;
            o.reads.push(resolve(db.as_deref(), &name)?);
            return Ok(o);
        }
        StatementKind::LoadData => {
            let at = (0..toks.len())
                .find(|&i| kw(i, "INTO") && kw(i + 1, "TABLE"))
                .ok_or("LOAD DATA without INTO TABLE")?;
            let (db, name) = qualified_at(&toks, src, at + 2).ok_or("LOAD DATA target")?;
            o.targets.push(resolve(db.as_deref(), &name)?);
            return Ok(o);
        }
        StatementKind::Ddl => {
            let verb = ddl_verb(&toks, src);
            o.ddl = Some(verb);
            if let DdlVerb::AdminOnly(_) = verb {
                return Ok(o);
            }
            if kw(1, "DATABASE") || kw(1, "SCHEMA") {
                let at = if kw(2, "IF") {
                    4 + usize::from(kw(3, "NOT"))
                } else {
                    2
                };
                let name = toks.get(at).ok_or("database name")?;
                o.database = Some(sql::lexer::unquote(name.bytes(src)).into_owned());
                return Ok(o);
            }
        }
        _ => {}
    }
    // Executable comments run on the server: parse their content too.
    let plain = blank_exec_comment_markers(text, opts);
    let stmts = sql::parse(&plain).map_err(|e| e.message)?;
    let [stmt] = stmts.as_slice() else {
        return Err(Unknown::from("not exactly one statement"));
    };
    let refs = sql::table_references(&plain, stmt);
    let mut names = Vec::with_capacity(refs.len());
    for r in &refs {
        names.push(resolve(r.schema.as_deref(), &r.name)?);
    }
    // Which references are targets: the first for INSERT/REPLACE (and
    // CREATE … SELECT / LIKE); those before the top-level SET of an UPDATE
    // or the top-level WHERE of a DELETE; every one of other DDL.
    let boundary = |word: &str| top_level(&toks, src, word).map(|i| toks[i].start);
    let split = match &c.kind {
        StatementKind::Insert | StatementKind::Replace => 1,
        StatementKind::Ddl if o.ddl == Some(DdlVerb::Create) => 1,
        StatementKind::Update => {
            let end = boundary("SET").unwrap_or(usize::MAX);
            refs.iter().take_while(|r| r.span.start < end).count()
        }
        StatementKind::Delete => {
            let end = boundary("WHERE").unwrap_or(usize::MAX);
            refs.iter().take_while(|r| r.span.start < end).count()
        }
        StatementKind::Ddl
        | StatementKind::Optimize
        | StatementKind::Repair
        | StatementKind::Analyze => usize::MAX,
        StatementKind::Other if c.flags.temporary_table => usize::MAX,
        _ => 0,
    };
    let split = split.min(names.len());
    o.reads = names.split_off(split);
    o.targets = names;
    o.upsert = matches!(c.kind, StatementKind::Insert)
        && (0..toks.len()).any(|i| kw(i, "DUPLICATE") && kw(i + 1, "KEY") && kw(i + 2, "UPDATE"));
    // A safety net under sqlparser: `db.x` written anywhere for a system
    // schema counts as a read of it, even where the AST walk finds no
    // table (a function argument, an unusual clause).
    for w in toks.windows(3) {
        let is_name = |t: &Token| matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent);
        if is_name(&w[0]) && w[1].is_punct(src, ".") && is_name(&w[2]) {
            let db = sql::lexer::unquote(w[0].bytes(src));
            if SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(&db)) {
                let t = TableName::new(&db, &sql::lexer::unquote(w[2].bytes(src)));
                if !o.targets.contains(&t) && !o.reads.contains(&t) {
                    o.reads.push(t);
                }
            }
        }
    }
    Ok(o)
}

/// `text` with the `/*!…` / `/*M!…` openers and their `*/` replaced by
/// spaces (same length), so sqlparser sees what the server runs.
pub(super) fn blank_exec_comment_markers(text: &str, opts: LexOptions) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for t in Lexer::with_options(text.as_bytes(), opts) {
        if matches!(
            t.kind,
            TokenKind::ExecCommentOpen | TokenKind::ExecCommentClose
        ) {
            for b in bytes.get_mut(t.span()).into_iter().flatten() {
                *b = b' ';
            }
        }
    }
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Index of `word` outside parentheses.
fn top_level(toks: &[Token], src: &[u8], word: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        if t.is_punct(src, "(") {
            depth += 1;
        } else if t.is_punct(src, ")") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && t.is_keyword(src, word) {
            return Some(i);
        }
    }
    None
}

/// `name` or `db.name` starting at token `i`.
fn qualified_at(toks: &[Token], src: &[u8], i: usize) -> Option<(Option<String>, String)> {
    let is_name = |t: &Token| matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent);
    let first = toks.get(i).filter(|t| is_name(t))?;
    let first = sql::lexer::unquote(first.bytes(src)).into_owned();
    if toks.get(i + 1).is_some_and(|t| t.is_punct(src, ".")) {
        let second = toks.get(i + 2).filter(|t| is_name(t))?;
        return Some((
            Some(first),
            sql::lexer::unquote(second.bytes(src)).into_owned(),
        ));
    }
    Some((None, first))
}

/// `SHOW … FROM db` / `IN db` (the database of `SHOW TABLES`, `SHOW TABLE
/// STATUS`, `SHOW TRIGGERS`…).
fn show_from_db(toks: &[Token], src: &[u8]) -> Option<String> {
    let at = toks
        .iter()
        .position(|t| t.is_keyword(src, "FROM") || t.is_keyword(src, "IN"))?;
    let t = toks.get(at + 1)?;
    Some(sql::lexer::unquote(t.bytes(src)).into_owned())
}

enum ShowOther {
    Harmless,
    Database,
    AdminOnly(&'static str),
}

/// The `SHOW` forms not classified by `sql::classify`.
fn show_other(toks: &[Token], src: &[u8]) -> ShowOther {
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(src, k));
    let mut i = 1;
    while kw(i, "FULL") || kw(i, "GLOBAL") || kw(i, "SESSION") || kw(i, "ALL") {
        i += 1;
    }
    let harmless = [
        "CHARACTER",
        "CHARSET",
        "COLLATION",
        "ENGINES",
        "STORAGE",
        "PLUGINS",
        "PRIVILEGES",
        "AUTHORS",
        "CONTRIBUTORS",
        "PROFILE",
        "PROFILES",
        "LOCALES",
    ];
    if harmless.iter().any(|k| kw(i, k)) {
        return ShowOther::Harmless;
    }
    // Own grants: MySQL shows them to everyone (here, the backend
    // account's; not a secret). `SHOW GRANTS FOR x` is admin only.
    if kw(i, "GRANTS") && !kw(i + 1, "FOR") {
        return ShowOther::Harmless;
    }
    let database = [
        "TABLE",
        "OPEN",
        "TRIGGERS",
        "EVENTS",
        "PROCEDURE",
        "FUNCTION",
        "PACKAGE",
    ];
    if database.iter().any(|k| kw(i, k)) && !kw(i + 1, "CODE") {
        return ShowOther::Database;
    }
    // The user's own shardcat sessions (`super::processlist`).
    if kw(i, "PROCESSLIST") {
        return ShowOther::Harmless;
    }
    ShowOther::AdminOnly("SUPER")
}

/// `SHOW INDEX|INDEXES|KEYS FROM t`: about a table (read through sqlparser
/// or, if it cannot, refused), not a database.
fn shows_table(toks: &[Token], src: &[u8]) -> bool {
    ["INDEX", "INDEXES", "KEYS", "COLUMNS", "FIELDS"]
        .iter()
        .any(|k| toks.iter().take(3).any(|t| t.is_keyword(src, k)))
}

fn ddl_verb(toks: &[Token], src: &[u8]) -> DdlVerb {
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(src, k));
    // Skip `CREATE OR REPLACE`, `ALGORITHM = x`, `DEFINER = …`, `SQL
    // SECURITY …`, `ONLINE`, `IGNORE`… by looking for the object word.
    const ADMIN_OBJECTS: [&str; 12] = [
        "VIEW",
        "PROCEDURE",
        "FUNCTION",
        "TRIGGER",
        "EVENT",
        "USER",
        "ROLE",
        "SERVER",
        "TABLESPACE",
        "LOGFILE",
        "SEQUENCE",
        "PACKAGE",
    ];
    let object = toks.iter().take(8).position(|t| {
        ADMIN_OBJECTS.iter().any(|k| t.is_keyword(src, k))
            || ["TABLE", "TABLES", "INDEX", "DATABASE", "SCHEMA"]
                .iter()
                .any(|k| t.is_keyword(src, k))
    });
    if let Some(i) = object {
        for k in ADMIN_OBJECTS {
            if kw(i, k) {
                return DdlVerb::AdminOnly(k);
            }
        }
        if kw(i, "INDEX") {
            return DdlVerb::Index;
        }
    } else {
        return DdlVerb::AdminOnly("DDL");
    }
    if kw(0, "CREATE") {
        DdlVerb::Create
    } else if kw(0, "DROP") || kw(0, "TRUNCATE") {
        DdlVerb::Drop
    } else if kw(0, "RENAME") {
        DdlVerb::Rename
    } else {
        DdlVerb::Alter
    }
}
