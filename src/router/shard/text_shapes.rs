//! A session's recent text statement shapes ([`TextShapes`]), so that a
//! statement sent again with other literals (sysbench's point and range
//! selects, an ORM without server-side prepares) is planned from its kept
//! shape: its tokens are compared with the shape's (the classifier's
//! tokens, no lexer pass), and the shape's analysis is used as it is,
//! without the rule-table scan, the shape scan, the analysis cache
//! lookup (a hash of the whole text) or, for a SELECT whose merge may
//! compare ENUM/SET columns, the column-kinds check.
//!
//! A kept shape matches a text when the text's significant tokens are
//! the shape's token for token (same kinds and spans, literals aside),
//! every byte outside the literals is the shape's, and every literal is
//! one [`shape`] would replace (same kind, a plain integer or a simple
//! quoted string): [`shape::scan_tokens`] would then give exactly this
//! shape text with these literals, so the plan is the one
//! [`ShardRouter::plan_with_tokens`] makes (tests compare both over
//! generated spellings).
//!
//! A shape is kept for one router (a reload, a placement change: another
//! router), one analysis generation (learned column lists or kinds clear
//! the router's analyses and bump it) and one current schema, like a
//! prepared statement's kept analysis (`plan::PreparedShape`); and only
//! when its statement needed no column kinds at that generation
//! (`settled`): kinds are learned only with a generation bump.
//!
//! Owns: [`TextShapes`], matching a text against them and keeping them
//! ([`ShardRouter::plan_text`]). Must not plan any other way than
//! `plan_shape_with` does for the general path.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use smallvec::SmallVec;

use super::shape::{self, ShapeLiteral};
use super::{CachedAnalysis, RouteError, ShardPlan, ShardRouter};
use crate::placement::ParamValue;
use crate::sql::Token;

/// Shapes kept per session (sysbench's read-only transaction has five).
const MAX_SHAPES: usize = 8;

/// A matched text's literals: inline up to four (no allocation for the
/// common point and range statements).
type Literals<'s> = SmallVec<[ShapeLiteral<'s>; 4]>;

/// A text shape kept with its analysis.
struct KeptShape {
    router: Weak<ShardRouter>,
    generation: u64,
    schema: Option<String>,
    /// The shape text (literals replaced by `?`).
    text: String,
    /// The shape text's significant tokens; a literal's token spans its
    /// `?` and has the literal's kind.
    tokens: Vec<Token>,
    /// Indices into `tokens` of the literals, ascending.
    literals: Vec<usize>,
    analysis: CachedAnalysis,
}

/// The text shapes a session planned recently (see the module docs).
#[derive(Default)]
pub struct TextShapes {
    kept: Vec<KeptShape>,
    /// The entry replaced next when full.
    next: usize,
}

impl std::fmt::Debug for TextShapes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextShapes({} kept)", self.kept.len())
    }
}

/// What the caller knows of a text planned the general way, for keeping
/// its shape: the analysis generation read before its column kinds were
/// checked, and whether that check needed none.
#[derive(Debug, Clone, Copy)]
pub struct KeepShape {
    pub generation: u64,
    pub settled: bool,
}

impl KeptShape {
    fn is_for(&self, router: &Arc<ShardRouter>, generation: u64, schema: Option<&str>) -> bool {
        std::ptr::eq(self.router.as_ptr(), Arc::as_ptr(router))
            && self.generation == generation
            && self.schema.as_deref() == schema
    }

    /// The literals of `sql` (significant tokens `tokens`) when it is
    /// this shape with other literals.
    fn literals_of<'s>(&self, sql: &'s str, tokens: &[Token]) -> Option<Literals<'s>> {
        if tokens.len() != self.tokens.len() {
            return None;
        }
        let (src, text) = (sql.as_bytes(), self.text.as_bytes());
        let mut literals = Literals::new();
        let mut next = self.literals.iter().copied().peekable();
        // Bytes the literals before added to the text (`?` is one byte).
        let mut shift = 0isize;
        let (mut at_sql, mut at_shape) = (0, 0);
        for (i, (t, k)) in tokens.iter().zip(&self.tokens).enumerate() {
            if t.kind != k.kind || t.unterminated || t.start != k.start.checked_add_signed(shift)? {
                return None;
            }
            if next.peek() != Some(&i) {
                if t.end != k.end.checked_add_signed(shift)? {
                    return None;
                }
                continue;
            }
            next.next();
            if src.get(at_sql..t.start)? != text.get(at_shape..k.start)? {
                return None;
            }
            literals.push(shape::literal_of(sql, t)?);
            shift += isize::try_from(t.end - t.start).ok()? - 1;
            (at_sql, at_shape) = (t.end, k.end);
        }
        (src.get(at_sql..)? == text.get(at_shape..)?).then_some(literals)
    }
}

impl ShardRouter {
    /// The analysis generation: bumped whenever learned column lists or
    /// kinds clear the analyses (read before checking a statement's column
    /// kinds, for [`KeepShape`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The plan of a text statement from a shape `kept` holds (see the
    /// module docs): `None` when none matches or the plan is not one
    /// (the caller goes the general way, checking column kinds first,
    /// then [`ShardRouter::plan_text`]).
    pub fn plan_kept_text(
        self: &Arc<Self>,
        kept: &TextShapes,
        sql: &str,
        tokens: Option<&[Token]>,
        current_schema: Option<&str>,
        unaliased: bool,
    ) -> Option<ShardPlan> {
        let tokens = tokens?;
        if kept.kept.is_empty() {
            return None;
        }
        let generation = self.generation();
        let (k, literals) = kept.kept.iter().find_map(|k| {
            if !k.is_for(self, generation, current_schema) {
                return None;
            }
            Some((k, k.literals_of(sql, tokens)?))
        })?;
        let a = k.analysis.as_ref().as_ref().ok()?;
        self.plan_shape_with(a, sql, &k.text, &literals, current_schema, unaliased)?
    }

    /// [`ShardRouter::plan_with_tokens`] of a text statement (no
    /// parameters), keeping its shape in `kept` when it was planned
    /// through one and `keep` says its column kinds were settled.
    pub fn plan_text(
        self: &Arc<Self>,
        kept: &mut TextShapes,
        sql: &str,
        tokens: Option<&[Token]>,
        current_schema: Option<&str>,
        unaliased: bool,
        keep: KeepShape,
    ) -> Result<Option<ShardPlan>, RouteError> {
        let Some(tokens) = tokens else {
            return self.plan_with_tokens(sql, None, current_schema, &[], unaliased);
        };
        if self.tables.is_empty() {
            return Ok(None);
        }
        let scan = shape::scan_tokens(sql, tokens, |word| self.names.contains(word));
        if !scan.mentions_rule_table {
            return Ok(None);
        }
        if let Some((text, literals)) = &scan.shape {
            let analysis = self.analysis(text, current_schema);
            if let Ok(a) = analysis.as_ref() {
                let planned =
                    self.plan_shape_with(a, sql, text, literals, current_schema, unaliased);
                if let Some(plan) = planned {
                    if keep.settled && plan.is_some() {
                        kept.keep(
                            self,
                            keep.generation,
                            current_schema,
                            tokens,
                            text,
                            literals,
                            &analysis,
                        );
                    }
                    return Ok(plan);
                }
            }
        }
        let analysis = self.analysis(sql, current_schema);
        match analysis.as_ref() {
            Err(e) => Err(e.clone()),
            Ok(a) => super::plan::materialize(
                self,
                a,
                sql,
                current_schema,
                &[] as &[ParamValue<'_>],
                &[],
                unaliased,
            ),
        }
    }
}

impl TextShapes {
    /// Keeps the shape `text` (with `literals`) of a text whose
    /// significant tokens are `tokens`.
    #[allow(clippy::too_many_arguments)]
    fn keep(
        &mut self,
        router: &Arc<ShardRouter>,
        generation: u64,
        schema: Option<&str>,
        tokens: &[Token],
        text: &str,
        literals: &[ShapeLiteral],
        analysis: &CachedAnalysis,
    ) {
        // The tokens in the shape text's offsets, and the literals' indices.
        let mut shaped = Vec::with_capacity(tokens.len());
        let mut indices = Vec::with_capacity(literals.len());
        let mut next = literals.iter().peekable();
        let mut shift = 0isize;
        for (i, t) in tokens.iter().enumerate() {
            let (Some(start), Some(end)) = (
                t.start.checked_add_signed(-shift),
                t.end.checked_add_signed(-shift),
            ) else {
                return;
            };
            let mut k = Token { start, end, ..*t };
            if next.peek().is_some_and(|l| l.source == t.span()) {
                next.next();
                indices.push(i);
                k.end = start + 1;
                shift += (t.end - t.start) as isize - 1;
            }
            shaped.push(k);
        }
        if next.next().is_some() {
            return;
        }
        let fresh = KeptShape {
            router: Arc::downgrade(router),
            generation,
            schema: schema.map(str::to_owned),
            text: text.to_owned(),
            tokens: shaped,
            literals: indices,
            analysis: analysis.clone(),
        };
        // The same shape kept before (another generation): replaced.
        let same = self
            .kept
            .iter()
            .position(|k| k.text == fresh.text && k.schema == fresh.schema);
        match same {
            Some(at) => self.kept[at] = fresh,
            None if self.kept.len() < MAX_SHAPES => self.kept.push(fresh),
            None => {
                self.next %= MAX_SHAPES;
                self.kept[self.next] = fresh;
                self.next += 1;
            }
        }
    }
}
