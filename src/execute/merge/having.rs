//! A cross-shard HAVING: keeps the combined groups its condition accepts
//! (the shards could not apply it to their partial groups).
//!
//! Owns: filtering rows by a condition. Must not combine groups.

use super::source::RowSource;
use crate::error::{ProxyError, Result};
use crate::merge::eval::MergeExpr;
use crate::merge::{ColumnInfo, TextRow, ValueOrder};
use crate::wire::packets::ErrPacket;

pub struct Having<'a, S> {
    input: S,
    /// `None`: every row passes.
    condition: Option<&'a MergeExpr>,
    columns: &'a [ColumnInfo],
    orders: &'a [ValueOrder],
}

impl<'a, S: RowSource> Having<'a, S> {
    pub fn new(
        input: S,
        condition: Option<&'a MergeExpr>,
        columns: &'a [ColumnInfo],
        orders: &'a [ValueOrder],
    ) -> Self {
        Having {
            input,
            condition,
            columns,
            orders,
        }
    }
}

impl<S: RowSource> RowSource for Having<'_, S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        while let Some(row) = self.input.next().await? {
            let Some(h) = self.condition else {
                return Ok(Some(row));
            };
            // Only out-of-range arithmetic fails here, as on the server.
            let keep = h
                .accepts(&row, self.columns, self.orders)
                .map_err(|m| ProxyError::Backend(ErrPacket::new(1690, "22003", &m)))?;
            if keep {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::source::collect;
    use crate::execute::merge::testing::{
        kind_columns, orders, random_rows, ready, rng, texts, Fake,
    };
    use crate::merge::eval::{BinOp, Literal};

    /// `HAVING c0 > k` over random integers (NULLs fail) equals the
    /// reference filter.
    #[test]
    fn keeps_what_the_condition_accepts() {
        let mut r = rng(13);
        let kinds = [0, 2];
        let columns = kind_columns(&kinds);
        let orders = orders(&columns);
        for k in -5i64..5 {
            let cond = MergeExpr::Binary(
                BinOp::Gt,
                Box::new(MergeExpr::Column(0)),
                Box::new(MergeExpr::Literal(Literal::Int(k as i128))),
            );
            cond.check(&columns).unwrap();
            let rows = random_rows(&mut r, &kinds, 40);
            let expected: Vec<TextRow> = rows
                .iter()
                .filter(|x| {
                    x.value(0).is_some_and(|v| {
                        std::str::from_utf8(v).unwrap().parse::<i64>().unwrap() > k
                    })
                })
                .cloned()
                .collect();
            let got = ready(collect(&mut Having::new(
                Fake::new(rows.clone()),
                Some(&cond),
                &columns,
                &orders,
            )))
            .unwrap();
            assert_eq!(texts(&got), texts(&expected));
            let all = ready(collect(&mut Having::new(
                Fake::new(rows.clone()),
                None,
                &columns,
                &orders,
            )))
            .unwrap();
            assert_eq!(all.len(), rows.len());
        }
    }
}
