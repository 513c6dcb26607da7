//! Cohort rules: a small expression language in seed 004's syntax.
//!
//! `engagement_tier == 'champion' AND days_since_last_visit < 7`,
//! `device_preference IN ('mobile', 'tablet')`, `'Saturday' IN peak_days`.
//!
//! Rules: comparisons `== != < <= > >=` between a field and a literal (numbers compare
//! as numbers, strings as strings); `x IN list` where either side may be the list
//! (a literal `('a', 'b')` or a list field); `AND` binds tighter than `OR`; `NOT` and
//! parentheses group. Field names are checked when the rule is parsed ([`FIELDS`]).
//! A comparison of mismatched types is false.

use std::fmt;

/// The fields a rule may name (see `model::profile::Facts`).
pub const FIELDS: &[&str] = &[
    "engagement_tier",
    "engagement_score",
    "days_since_last_visit",
    "days_since_first_visit",
    "event_count",
    "sessions",
    "purchases",
    "add_to_carts",
    "product_views",
    "top_category",
    "top_categories",
    "top_brands",
    "price_band",
    "average_price",
    "device_preference",
    "platform_preference",
    "peak_days",
    "peak_hours",
    "consent_marketing",
];

/// A value a field or literal has.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num(f64),
    Str(String),
    Bool(bool),
    List(Vec<String>),
    Null,
}

impl Val {
    fn as_text(&self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.clone()),
            Val::Num(n) => Some(format!("{n}")),
            Val::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// Something that can answer for a field (a profile's facts).
pub trait Fields {
    fn field(&self, name: &str) -> Val;
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field(String),
    Lit(Val),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, Op, Operand),
    In(Operand, Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(Op),
    And,
    Or,
    Not,
    In,
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, PartialEq)]
pub struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

fn lex(src: &str) -> Result<Vec<Tok>, ParseError> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '\'' | '"' => {
                let end = b[i + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .ok_or_else(|| ParseError("unterminated string".into()))?;
                out.push(Tok::Str(b[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '=' | '!' | '<' | '>' => {
                let two = b.get(i + 1) == Some(&'=');
                let op = match (c, two) {
                    ('=', true) => Op::Eq,
                    ('!', true) => Op::Ne,
                    ('<', true) => Op::Le,
                    ('>', true) => Op::Ge,
                    ('<', false) => Op::Lt,
                    ('>', false) => Op::Gt,
                    _ => return err(format!("unknown operator at {i}")),
                };
                out.push(Tok::Op(op));
                i += if two { 2 } else { 1 };
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                    i += 1;
                }
                let t: String = b[start..i].iter().collect();
                out.push(Tok::Num(
                    t.parse()
                        .map_err(|_| ParseError(format!("bad number {t}")))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                let w: String = b[start..i].iter().collect();
                out.push(match w.to_ascii_uppercase().as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    "IN" => Tok::In,
                    _ => Tok::Ident(w),
                });
            }
            _ => return err(format!("unexpected {c:?} at {i}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut terms = vec![self.term()?];
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().unwrap()
        } else {
            Expr::Or(terms)
        })
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut factors = vec![self.factor()?];
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            factors.push(self.factor()?);
        }
        Ok(if factors.len() == 1 {
            factors.pop().unwrap()
        } else {
            Expr::And(factors)
        })
    }

    fn factor(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some(Tok::Not) => {
                self.at += 1;
                Ok(Expr::Not(Box::new(self.factor()?)))
            }
            Some(Tok::LParen) => {
                self.at += 1;
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => err("missing )"),
                }
            }
            _ => {
                let left = self.operand()?;
                match self.next() {
                    Some(Tok::Op(op)) => Ok(Expr::Cmp(left, op, self.operand()?)),
                    Some(Tok::In) => Ok(Expr::In(left, self.operand()?)),
                    other => err(format!("expected a comparison, found {other:?}")),
                }
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        match self.next() {
            Some(Tok::Ident(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Ok(Operand::Lit(Val::Bool(true))),
                "false" => Ok(Operand::Lit(Val::Bool(false))),
                _ if FIELDS.contains(&w.as_str()) => Ok(Operand::Field(w)),
                _ => err(format!("unknown field {w} (known: {})", FIELDS.join(", "))),
            },
            Some(Tok::Str(s)) => Ok(Operand::Lit(Val::Str(s))),
            Some(Tok::Num(n)) => Ok(Operand::Lit(Val::Num(n))),
            Some(Tok::LParen) => {
                let mut items = Vec::new();
                loop {
                    match self.next() {
                        Some(Tok::Str(s)) => items.push(s),
                        Some(Tok::Num(n)) => items.push(format!("{n}")),
                        Some(Tok::RParen) if items.is_empty() => break,
                        other => return err(format!("expected a list item, found {other:?}")),
                    }
                    match self.next() {
                        Some(Tok::Comma) => {}
                        Some(Tok::RParen) => break,
                        other => return err(format!("expected , or ), found {other:?}")),
                    }
                }
                Ok(Operand::Lit(Val::List(items)))
            }
            other => err(format!("expected a field or a value, found {other:?}")),
        }
    }
}

impl Expr {
    pub fn parse(src: &str) -> Result<Expr, ParseError> {
        let mut p = Parser {
            toks: lex(src)?,
            at: 0,
        };
        let e = p.expr()?;
        if p.at != p.toks.len() {
            return err(format!("unexpected {:?}", p.toks[p.at]));
        }
        Ok(e)
    }

    pub fn eval(&self, f: &dyn Fields) -> bool {
        let value = |o: &Operand| match o {
            Operand::Field(name) => f.field(name),
            Operand::Lit(v) => v.clone(),
        };
        match self {
            Expr::Or(v) => v.iter().any(|e| e.eval(f)),
            Expr::And(v) => v.iter().all(|e| e.eval(f)),
            Expr::Not(e) => !e.eval(f),
            Expr::In(a, b) => match (value(a), value(b)) {
                (x, Val::List(list)) => x.as_text().is_some_and(|t| list.contains(&t)),
                (Val::List(list), x) => x.as_text().is_some_and(|t| list.contains(&t)),
                _ => false,
            },
            Expr::Cmp(a, op, b) => {
                let ord = match (value(a), value(b)) {
                    (Val::Num(x), Val::Num(y)) => x.partial_cmp(&y),
                    (Val::Str(x), Val::Str(y)) => Some(x.cmp(&y)),
                    (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(&y)),
                    _ => None,
                };
                let Some(ord) = ord else { return false };
                use std::cmp::Ordering::*;
                match op {
                    Op::Eq => ord == Equal,
                    Op::Ne => ord != Equal,
                    Op::Lt => ord == Less,
                    Op::Le => ord != Greater,
                    Op::Gt => ord == Greater,
                    Op::Ge => ord != Less,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct F(HashMap<&'static str, Val>);
    impl Fields for F {
        fn field(&self, name: &str) -> Val {
            self.0.get(name).cloned().unwrap_or(Val::Null)
        }
    }

    #[test]
    fn seed_004_rules() {
        let f = F(HashMap::from([
            ("engagement_tier", Val::Str("champion".into())),
            ("days_since_last_visit", Val::Num(3.0)),
            ("device_preference", Val::Str("mobile".into())),
            ("peak_days", Val::List(vec!["Sunday".into()])),
            ("purchases", Val::Num(0.0)),
        ]));
        let t = |s: &str| Expr::parse(s).unwrap().eval(&f);
        assert!(t(
            "engagement_tier == 'champion' AND days_since_last_visit < 7"
        ));
        assert!(!t(
            "engagement_tier == 'loyal' AND days_since_last_visit > 14"
        ));
        assert!(t("device_preference IN ('app', 'mobile')"));
        assert!(t("'Saturday' IN peak_days OR 'Sunday' IN peak_days"));
        assert!(t("NOT (purchases >= 1) and days_since_last_visit <= 3"));
        assert!(!t("top_category == 'x'"));
        assert!(Expr::parse("nope == 1").is_err());
        assert!(Expr::parse("purchases >").is_err());
        assert!(Expr::parse("purchases > 1 1").is_err());
    }
}
