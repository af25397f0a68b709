//! `plan::render` checked against a straightforward reference that looks
//! at every splice for every copied range.
//!
//! Owns: the reference renderer and the test that compares the two. Must
//! not test planning (the other files of this directory do).

use super::super::plan::render;
use super::super::select::{Edit, Piece};
use super::super::{quote_sql, RouteError};
use std::ops::Range;

fn push_src(
    sql: &str,
    range: Range<usize>,
    placeholders: &[usize],
    out: &mut String,
    params: &mut Vec<usize>,
) -> Option<()> {
    out.push_str(sql.get(range.clone())?);
    for (i, &p) in placeholders.iter().enumerate() {
        if range.contains(&p) {
            params.push(i);
        }
    }
    Some(())
}

/// The straightforward `render`: every splice looked at for every copied
/// range (quadratic in the rows of a split INSERT). The real one must give
/// the same text, parameters and errors.
fn render_by_full_scan(
    sql: &str,
    inner: &[(Range<usize>, String)],
    edits: &[Edit],
    placeholders: &[usize],
) -> Result<(String, Vec<usize>), RouteError> {
    let mut inner: Vec<&(Range<usize>, String)> = inner.iter().collect();
    inner.sort_by_key(|(r, _)| (r.start, r.end));
    let mut edits: Vec<&Edit> = edits.iter().collect();
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let internal = |what: &str| {
        RouteError(format!(
            "internal: {what} while rewriting {}",
            quote_sql(sql)
        ))
    };
    for w in edits.windows(2) {
        if w[0].range.end > w[1].range.start {
            return Err(internal("overlapping edits"));
        }
    }
    let mut out = String::with_capacity(sql.len() + 32);
    let mut params = Vec::new();
    let emit = |range: Range<usize>,
                out: &mut String,
                params: &mut Vec<usize>|
     -> Result<(), RouteError> {
        let mut at = range.start;
        for (r, text) in inner.iter().map(|x| (&x.0, &x.1)) {
            let zero_width_at_end =
                r.start == r.end && r.start == range.end && range.end < sql.len();
            if r.start < range.start || r.end > range.end || zero_width_at_end {
                if r.start < range.end && r.end > range.start && r.start != r.end {
                    return Err(internal("a rename straddles an edit"));
                }
                continue;
            }
            if r.start < at {
                return Err(internal("overlapping renames"));
            }
            push_src(sql, at..r.start, placeholders, out, params)
                .ok_or_else(|| internal("bad range"))?;
            out.push_str(text);
            at = r.end;
        }
        push_src(sql, at..range.end, placeholders, out, params)
            .ok_or_else(|| internal("bad range"))?;
        Ok(())
    };
    let mut at = 0;
    for e in &edits {
        emit(at..e.range.start, &mut out, &mut params)?;
        for p in &e.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Src(r) => emit(r.clone(), &mut out, &mut params)?,
            }
        }
        at = e.range.end;
    }
    emit(at..sql.len(), &mut out, &mut params)?;
    Ok((out, params))
}

#[test]
fn render_agrees_with_a_full_scan() {
    // xorshift: reproducible without a dependency.
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rng = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let sql = "abc ? def ?? ghi, jkl (mno) ? pqr";
    let placeholders = [4usize, 10, 11, 29];
    let len = sql.len();
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..100_000 {
        // Splices are never inverted (spans, or empty insertion points);
        // edits and copied ranges may be anything.
        let inner: Vec<(Range<usize>, String)> = (0..rng(5))
            .map(|k| {
                let (a, b) = (rng(len + 1), rng(len + 1));
                let r = if rng(3) == 0 {
                    a..a
                } else {
                    a.min(b)..a.max(b)
                };
                (r, format!("<{k}>"))
            })
            .collect();
        let any = |rng: &mut dyn FnMut(usize) -> usize| {
            let (a, b) = (rng(len + 1), rng(len + 1));
            if rng(10) == 0 {
                b.max(a)..a.min(b)
            } else {
                a.min(b)..a.max(b)
            }
        };
        let edits: Vec<Edit> = (0..rng(3))
            .map(|_| Edit {
                range: any(&mut rng),
                pieces: (0..rng(4))
                    .map(|_| {
                        if rng(2) == 0 {
                            Piece::Text("T".into())
                        } else {
                            Piece::Src(any(&mut rng))
                        }
                    })
                    .collect(),
            })
            .collect();
        let want = render_by_full_scan(sql, &inner, &edits, &placeholders).map_err(|e| e.0);
        let got = render(sql, &inner, &edits, &placeholders).map_err(|e| e.0);
        assert_eq!(got, want, "{inner:?} {edits:?}");
        if want.is_ok() {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    // Both outcomes were exercised.
    assert!(ok > 10_000 && failed > 10_000, "{ok} {failed}");
}
