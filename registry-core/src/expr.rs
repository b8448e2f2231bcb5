//! The `--where` expression language, as the reference's. Comparisons (`=`, `!=`,
//! `<>`, `<`, `<=`, `>`, `>=`) on dimension keys and record fields
//! (`visit.exposure_time > 20`, `visit.timespan.begin > T'2022-01-01'`) and
//! arithmetic on them (`visit + 1 = 4`, `*`, `/`, `%`, unary minus), `IN (list)` with
//! `a..b` ranges (optionally `a..b:stride`), `GLOB(field, 'pattern')`,
//! `X.timespan OVERLAPS T'…'` or `OVERLAPS (T'…', T'…')`, `AND` / `OR` / `NOT`,
//! parentheses, string, number and time literals (`T'2022-01-01T00:00:00'`, UTC
//! unless it ends in `/tai`; a number is an MJD in TAI), and bind names, bare or
//! written `:name`. Parse errors name the column of the offending token.
//!
//! Nesting (parentheses and `NOT`) is limited to [`MAX_DEPTH`] levels, so neither the
//! parser nor anything walking the tree can exhaust the stack; chains of `AND` / `OR`
//! are kept flat, so their length costs no depth.
//!
//! An expression is parsed once into [`Expr`] and then compiled to SQL by a caller that
//! knows which columns an identifier names.

use std::collections::BTreeMap;

use crate::db::{Backend, Value};
use crate::error::{RegistryError, Result};

/// The deepest nesting of parentheses, `NOT` and unary minus an expression may have.
pub const MAX_DEPTH: usize = 200;

/// A literal in an expression.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Literal {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// String.
    Text(String),
    /// A time: TAI nanoseconds since 1970, as timespans are stored.
    Time(i64),
    /// A UUID, written `UUID('…')` (a dataset id).
    Uuid(uuid::Uuid),
}

impl Literal {
    /// The literal a bind value stands for: a number, text, a boolean (as 0 or 1)
    /// or a UUID; `None` for a value no expression compares with.
    pub fn from_value(v: Value) -> Option<Literal> {
        match v {
            Value::Int(i) => Some(Literal::Int(i)),
            Value::Float(x) => Some(Literal::Float(x)),
            Value::Text(t) => Some(Literal::Text(t)),
            Value::Bool(b) => Some(Literal::Int(b as i64)),
            Value::Uuid(u) => Some(Literal::Uuid(u)),
            Value::Null | Value::Bytes(_) => None,
        }
    }
}

impl Literal {
    /// As a database value.
    pub fn to_value(&self) -> Value {
        match self {
            Literal::Int(i) => Value::Int(*i),
            Literal::Float(f) => Value::Float(*f),
            Literal::Text(s) => Value::Text(s.clone()),
            Literal::Time(ns) => Value::Int(*ns),
            Literal::Uuid(u) => Value::Uuid(*u),
        }
    }
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

impl ArithOp {
    fn sql(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// One element of an `IN` list.
#[derive(Debug, Clone, PartialEq)]
pub enum InItem {
    /// A single value.
    Value(Operand),
    /// An inclusive integer range with a stride.
    Range {
        /// First value.
        start: i64,
        /// Last value (inclusive).
        stop: i64,
        /// Step.
        stride: i64,
    },
}

/// An operand: a field reference or a literal (bind names are resolved at parse time).
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `name` or `element.field`, with the column where it starts.
    Field {
        /// The identifier as written.
        name: String,
        /// 1-based column in the expression.
        column: usize,
    },
    /// A literal value.
    Literal(Literal),
    /// `a OP b`, with the column of the operator.
    Arith {
        /// Left side.
        left: Box<Operand>,
        /// The operator.
        op: ArithOp,
        /// Right side.
        right: Box<Operand>,
        /// 1-based column of the operator.
        column: usize,
    },
    /// `-a` of something other than a number literal.
    Neg(Box<Operand>),
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a OP b`
    Cmp(Operand, CmpOp, Operand),
    /// `a [NOT] IN (…)`
    In {
        /// The tested operand.
        operand: Operand,
        /// The list.
        items: Vec<InItem>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `a AND b AND …` (two or more terms).
    And(Vec<Expr>),
    /// `a OR b OR …` (two or more terms).
    Or(Vec<Expr>),
    /// `NOT a`
    Not(Box<Expr>),
    /// `GLOB(field, 'pattern')`: `*` any run of characters, `?` any one.
    Glob {
        /// The tested operand.
        operand: Operand,
        /// The pattern.
        pattern: String,
    },
    /// `X.timespan OVERLAPS …`: the half-open range `[begin, end)` (an instant is
    /// `[t, t]`, overlapping a timespan that holds it).
    Overlaps {
        /// The timespan's name (`visit.timespan`), with its column.
        field: Operand,
        /// Begin (TAI ns).
        begin: i64,
        /// End (TAI ns); equal to `begin` for an instant.
        end: i64,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    Time(String),
    Bind(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    DotDot,
    Colon,
    End,
}

/// Tokens longer than this are shortened in errors.
const DESCRIBE_UP_TO: usize = 40;

fn describe(t: &Tok) -> String {
    let short = |s: String| {
        if s.chars().count() <= DESCRIBE_UP_TO {
            s
        } else {
            s.chars().take(DESCRIBE_UP_TO).collect::<String>() + "…"
        }
    };
    match t {
        Tok::Ident(s) => format!("'{}'", short(s.clone())),
        Tok::Int(i) => format!("'{i}'"),
        // Debug, not Display: 1e308 is "1e308", not 309 digits.
        Tok::Float(f) => format!("'{f:?}'"),
        Tok::Str(s) => format!("'{}'", short(format!("{s:?}"))),
        // Escaped, as strings are: an error stays on one line.
        Tok::Time(s) => format!("T'{}'", short(s.escape_debug().to_string())),
        Tok::Bind(s) => format!("':{}'", short(s.clone())),
        Tok::Op(o) => format!("'{o}'"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
        Tok::DotDot => "'..'".into(),
        Tok::Colon => "':'".into(),
        Tok::End => "end of expression".into(),
    }
}

/// Expressions longer than this are quoted in errors by an excerpt around the column.
const QUOTE_WHOLE_UP_TO: usize = 80;

fn error(text: &str, column: usize, what: &str) -> RegistryError {
    let n = text.chars().count();
    if n <= QUOTE_WHOLE_UP_TO {
        return RegistryError::Invalid(format!("--where {text:?}: {what} at column {column}"));
    }
    let start = column.saturating_sub(31);
    let excerpt: String = text.chars().skip(start).take(60).collect();
    let before = if start > 0 { "…" } else { "" };
    let after = if start + 60 < n { "…" } else { "" };
    RegistryError::Invalid(format!(
        "--where ({n} characters, near {before}{excerpt:?}{after}): {what} at column {column}"
    ))
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if (c == 'T' || c == 't') && matches!(chars.get(i + 1), Some('\'') | Some('"')) {
            let quote = chars[i + 1];
            let start = i + 2;
            let Some(len) = chars[start..].iter().position(|ch| *ch == quote) else {
                return Err(error(text, col, "unterminated time literal"));
            };
            out.push((Tok::Time(chars[start..start + len].iter().collect()), col));
            i = start + len + 1;
            continue;
        }
        if c == ':'
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
        {
            let start = i + 1;
            i = start;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Bind(chars[start..i].iter().collect()), col));
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '_'
                    || (chars[i] == '.'
                        && chars
                            .get(i + 1)
                            .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')))
            {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), col));
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut is_float = false;
            // A '.' followed by a digit continues a float; '..' is a range.
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1] != '.' {
                is_float = true;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                is_float = true;
                i += 1;
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    i += 1;
                }
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let s: String = chars[start..i].iter().collect();
            let tok = if is_float {
                Tok::Float(
                    s.parse()
                        .map_err(|_| error(text, col, &format!("bad number '{s}'")))?,
                )
            } else {
                Tok::Int(
                    s.parse()
                        .map_err(|_| error(text, col, &format!("bad number '{s}'")))?,
                )
            };
            out.push((tok, col));
            continue;
        }
        if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(error(text, col, "unterminated string")),
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push((Tok::Str(s), col));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let tok = match two.as_str() {
            "!=" => Some(Tok::Op("!=")),
            "<>" => Some(Tok::Op("<>")),
            "<=" => Some(Tok::Op("<=")),
            ">=" => Some(Tok::Op(">=")),
            ".." => Some(Tok::DotDot),
            _ => None,
        };
        if let Some(t) = tok {
            out.push((t, col));
            i += 2;
            continue;
        }
        let tok = match c {
            '=' => Tok::Op("="),
            '<' => Tok::Op("<"),
            '>' => Tok::Op(">"),
            '-' => Tok::Op("-"),
            '+' => Tok::Op("+"),
            '*' => Tok::Op("*"),
            '/' => Tok::Op("/"),
            '%' => Tok::Op("%"),
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            ':' => Tok::Colon,
            _ => return Err(error(text, col, &format!("unexpected character '{c}'"))),
        };
        out.push((tok, col));
        i += 1;
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    bind: &'a BTreeMap<String, Literal>,
    /// Open parentheses and `NOT`s around the current token.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn col(&self) -> usize {
        self.toks[self.pos].1
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn unexpected<T>(&self) -> Result<T> {
        Err(error(
            self.text,
            self.col(),
            &format!("unexpected {}", describe(self.peek())),
        ))
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, t: Tok) -> Result<()> {
        if *self.peek() == t {
            self.next();
            Ok(())
        } else {
            Err(error(
                self.text,
                self.col(),
                &format!("expected {}, found {}", describe(&t), describe(self.peek())),
            ))
        }
    }

    /// Enter one more level of nesting at the current token, or refuse to.
    fn descend(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(error(
                self.text,
                self.col(),
                &format!("expression nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        self.depth += 1;
        self.next();
        Ok(())
    }

    fn or(&mut self) -> Result<Expr> {
        let mut terms = vec![self.and()?];
        while self.keyword("OR") {
            self.next();
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr> {
        let mut terms = vec![self.not()?];
        while self.keyword("AND") {
            self.next();
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn not(&mut self) -> Result<Expr> {
        if self.keyword("NOT") {
            self.descend()?;
            let e = Expr::Not(Box::new(self.not()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr> {
        if *self.peek() == Tok::LParen {
            // A parenthesized condition, or an operand that starts with one
            // (`(visit + 1) = 4`): the condition is tried first.
            let (save, depth) = (self.pos, self.depth);
            self.descend()?;
            let group = self.or().and_then(|e| {
                self.expect(Tok::RParen)?;
                Ok(e)
            });
            match group {
                Ok(e) if !self.continues_operand() => {
                    self.depth -= 1;
                    return Ok(e);
                }
                Ok(_) => {
                    (self.pos, self.depth) = (save, depth);
                }
                Err(first) => {
                    (self.pos, self.depth) = (save, depth);
                    return self.comparison().map_err(|_| first);
                }
            }
        }
        if self.keyword("GLOB") && self.toks.get(self.pos + 1).map(|t| &t.0) == Some(&Tok::LParen) {
            return self.glob();
        }
        self.comparison()
    }

    /// True if the token after a parenthesized group makes it an operand.
    fn continues_operand(&self) -> bool {
        matches!(self.peek(), Tok::Op(_)) || self.keyword("IN") || self.keyword("OVERLAPS")
    }

    /// `GLOB(operand, 'pattern')`.
    fn glob(&mut self) -> Result<Expr> {
        self.next();
        self.expect(Tok::LParen)?;
        let operand = self.operand()?;
        self.expect(Tok::Comma)?;
        let col = self.col();
        let pattern = match self.next() {
            Tok::Str(p) => p,
            Tok::Bind(name) => match self.bind.get(&name) {
                Some(Literal::Text(p)) => p.clone(),
                _ => {
                    return Err(error(
                        self.text,
                        col,
                        &format!("GLOB needs a text pattern, and :{name} is not bound to one"),
                    ))
                }
            },
            _ => {
                self.pos -= 1;
                return Err(error(
                    self.text,
                    col,
                    "GLOB needs a quoted pattern as its second argument",
                ));
            }
        };
        self.expect(Tok::RParen)?;
        Ok(Expr::Glob { operand, pattern })
    }

    fn comparison(&mut self) -> Result<Expr> {
        let left = self.operand()?;
        let negated = if self.keyword("NOT") {
            self.next();
            if !self.keyword("IN") {
                return self.unexpected();
            }
            true
        } else {
            false
        };
        if self.keyword("IN") {
            self.next();
            self.expect(Tok::LParen)?;
            let mut items = vec![self.in_item()?];
            while *self.peek() == Tok::Comma {
                self.next();
                items.push(self.in_item()?);
            }
            self.expect(Tok::RParen)?;
            for item in &items {
                if let InItem::Value(v) = item {
                    arithmetic_against_text(self.text, &left, v)?;
                }
            }
            return Ok(Expr::In {
                operand: left,
                items,
                negated,
            });
        }
        if self.keyword("OVERLAPS") {
            return self.overlaps(left);
        }
        let op = match self.peek() {
            Tok::Op("=") => CmpOp::Eq,
            Tok::Op("!=") | Tok::Op("<>") => CmpOp::Ne,
            Tok::Op("<") => CmpOp::Lt,
            Tok::Op("<=") => CmpOp::Le,
            Tok::Op(">") => CmpOp::Gt,
            Tok::Op(">=") => CmpOp::Ge,
            _ => return self.unexpected(),
        };
        self.next();
        let right = self.operand()?;
        arithmetic_against_text(self.text, &left, &right)?;
        Ok(Expr::Cmp(left, op, right))
    }

    /// `X.timespan OVERLAPS T'…'` or `OVERLAPS (T'…', T'…')`.
    fn overlaps(&mut self, field: Operand) -> Result<Expr> {
        let Operand::Field { name, column } = &field else {
            return Err(error(
                self.text,
                self.col(),
                "OVERLAPS needs a timespan on its left (visit.timespan)",
            ));
        };
        if !(name == "timespan" || name.ends_with(".timespan")) {
            return Err(error(
                self.text,
                *column,
                &format!("OVERLAPS needs a timespan on its left (visit.timespan), not {name}"),
            ));
        }
        self.next();
        let (begin, end) = if *self.peek() == Tok::LParen {
            self.next();
            let begin = self.time()?;
            self.expect(Tok::Comma)?;
            let end = self.time()?;
            self.expect(Tok::RParen)?;
            (begin, end)
        } else {
            let t = self.time()?;
            (t, t)
        };
        Ok(Expr::Overlaps { field, begin, end })
    }

    /// A time literal (or a time bound to a name).
    fn time(&mut self) -> Result<i64> {
        let col = self.col();
        match self.next() {
            Tok::Time(t) => parse_time(&t).map_err(|why| error(self.text, col, &why)),
            Tok::Bind(name) => match self.bind.get(&name) {
                Some(Literal::Time(t)) => Ok(*t),
                Some(Literal::Text(t)) => parse_time(t).map_err(|why| error(self.text, col, &why)),
                _ => Err(error(
                    self.text,
                    col,
                    &format!(":{name} is not bound to a time"),
                )),
            },
            _ => {
                self.pos -= 1;
                Err(error(
                    self.text,
                    col,
                    &format!(
                        "expected a time (T'2022-01-01T00:00:00'), found {}",
                        describe(self.peek())
                    ),
                ))
            }
        }
    }

    fn int_literal(&mut self) -> Result<i64> {
        let save = self.pos;
        let negative = if *self.peek() == Tok::Op("-") {
            self.next();
            true
        } else {
            false
        };
        match self.next() {
            Tok::Int(i) => Ok(if negative { -i } else { i }),
            _ => {
                self.pos = save;
                self.unexpected()
            }
        }
    }

    fn in_item(&mut self) -> Result<InItem> {
        let start_pos = self.pos;
        let first = self.operand()?;
        if *self.peek() != Tok::DotDot {
            return Ok(InItem::Value(first));
        }
        let Operand::Literal(Literal::Int(start)) = first else {
            self.pos = start_pos;
            return Err(error(self.text, self.col(), "a range needs integer bounds"));
        };
        self.next();
        let stop = self.int_literal()?;
        let mut stride = 1;
        if *self.peek() == Tok::Colon {
            self.next();
            let col = self.col();
            stride = self.int_literal()?;
            if stride <= 0 {
                return Err(error(self.text, col, "a range stride must be positive"));
            }
        }
        Ok(InItem::Range {
            start,
            stop,
            stride,
        })
    }

    /// An operand: a sum of products of signed primaries.
    fn operand(&mut self) -> Result<Operand> {
        let depth = self.depth;
        let result = self.chain(0);
        self.depth = depth;
        result
    }

    /// One more arithmetic operator in a chain: a chain is a tree as deep as it is
    /// long, so its operators count toward the nesting limit.
    fn chain_step(&mut self) -> Result<usize> {
        let col = self.col();
        if self.depth >= MAX_DEPTH {
            return Err(error(
                self.text,
                col,
                &format!("expression nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        self.depth += 1;
        self.next();
        Ok(col)
    }

    /// A left-associative chain of one precedence level's operators: sums of
    /// products (`level` 0), or products of signed primaries (`level` 1).
    fn chain(&mut self, level: u8) -> Result<Operand> {
        let next = |p: &mut Self| if level == 0 { p.chain(1) } else { p.signed() };
        let mut left = next(self)?;
        loop {
            let op = match (level, self.peek()) {
                (0, Tok::Op("+")) => ArithOp::Add,
                (0, Tok::Op("-")) => ArithOp::Sub,
                (1, Tok::Op("*")) => ArithOp::Mul,
                (1, Tok::Op("/")) => ArithOp::Div,
                (1, Tok::Op("%")) => ArithOp::Mod,
                _ => return Ok(left),
            };
            let column = self.chain_step()?;
            let right = next(self)?;
            for side in [&left, &right] {
                if let Operand::Literal(Literal::Text(v)) = side {
                    return Err(error(
                        self.text,
                        column,
                        &format!("the text {v:?} cannot take part in arithmetic"),
                    ));
                }
            }
            left = Operand::Arith {
                left: Box::new(left),
                op,
                right: Box::new(right),
                column,
            };
        }
    }

    fn signed(&mut self) -> Result<Operand> {
        if *self.peek() != Tok::Op("-") {
            return self.primary();
        }
        self.descend()?;
        let inner = self.signed();
        self.depth -= 1;
        Ok(match inner? {
            Operand::Literal(Literal::Int(i)) => Operand::Literal(Literal::Int(-i)),
            Operand::Literal(Literal::Float(f)) => Operand::Literal(Literal::Float(-f)),
            other => Operand::Neg(Box::new(other)),
        })
    }

    fn primary(&mut self) -> Result<Operand> {
        let col = self.col();
        let save = self.pos;
        match self.next() {
            Tok::Int(i) => Ok(Operand::Literal(Literal::Int(i))),
            Tok::Float(f) => Ok(Operand::Literal(Literal::Float(f))),
            Tok::Str(s) => Ok(Operand::Literal(Literal::Text(s))),
            Tok::Time(t) => parse_time(&t)
                .map(|ns| Operand::Literal(Literal::Time(ns)))
                .map_err(|why| error(self.text, col, &why)),
            Tok::Bind(name) => self
                .bind
                .get(&name)
                .cloned()
                .map(Operand::Literal)
                .ok_or_else(|| {
                    error(
                        self.text,
                        col,
                        &format!("no value is bound to :{name} (--bind {name}=VALUE)"),
                    )
                }),
            Tok::LParen => {
                self.pos = save;
                self.descend()?;
                let inner = self.chain(0)?;
                self.expect(Tok::RParen)?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Ident(name)
                if name.eq_ignore_ascii_case("UUID") && *self.peek() == Tok::LParen =>
            {
                self.next();
                let at = self.col();
                let Tok::Str(text) = self.next() else {
                    return Err(error(self.text, at, "UUID needs a quoted UUID: UUID('…')"));
                };
                let id = text
                    .trim()
                    .parse::<uuid::Uuid>()
                    .map_err(|_| error(self.text, at, &format!("{text:?} is not a UUID")))?;
                self.expect(Tok::RParen)?;
                Ok(Operand::Literal(Literal::Uuid(id)))
            }
            Tok::Ident(name) => {
                if ["AND", "OR", "NOT", "IN", "OVERLAPS", "GLOB"]
                    .iter()
                    .any(|k| name.eq_ignore_ascii_case(k))
                {
                    self.pos = save;
                    return self.unexpected();
                }
                if let Some(v) = self.bind.get(&name) {
                    return Ok(Operand::Literal(v.clone()));
                }
                Ok(Operand::Field { name, column: col })
            }
            _ => {
                self.pos = save;
                self.unexpected()
            }
        }
    }
}

/// Arithmetic gives a number, which a text value is never compared with.
fn arithmetic_against_text(text: &str, a: &Operand, b: &Operand) -> Result<()> {
    for (arith, other) in [(a, b), (b, a)] {
        if let (Operand::Arith { column, .. }, Operand::Literal(Literal::Text(v))) = (arith, other)
        {
            return Err(error(
                text,
                *column,
                &format!("arithmetic gives a number, which cannot be compared with the text {v:?}"),
            ));
        }
    }
    Ok(())
}

/// A time literal as the reference reads it, to TAI nanoseconds: an ISO date and
/// time (`2022-01-01`, `2022-01-01T12:00:00.5`) in UTC, or a number, an MJD in TAI;
/// optionally prefixed by its format (`iso/`, `isot/`, `mjd/`) and followed by its
/// scale (`/utc`, `/tai`).
pub fn parse_time(text: &str) -> std::result::Result<i64, String> {
    // Errors quote the literal shortened and escaped, so they stay one short line.
    let mut shown: String = text.chars().take(DESCRIBE_UP_TO).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    let shown = format!("{shown:?}");
    let t = text.trim().replace("+00:00", "");
    let parts: Vec<&str> = t.split('/').collect();
    let is_word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphabetic());
    let (format, value, scale) = match parts.as_slice() {
        [v] => (None, *v, None),
        [f, v] if is_word(f) => (Some(*f), *v, None),
        [v, sc] => (None, *v, Some(*sc)),
        [f, v, sc] => (Some(*f), *v, Some(*sc)),
        _ => return Err(format!("time {shown} does not match a known form")),
    };
    // As the reference's pattern: a number has a decimal point.
    let number = value
        .contains('.')
        .then(|| value.parse::<f64>().ok())
        .flatten();
    let format = format
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| if number.is_some() { "mjd" } else { "iso" }.to_owned());
    let scale = scale
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| if format == "mjd" { "tai" } else { "utc" }.to_owned());
    let ns = match (format.as_str(), number) {
        ("mjd", Some(mjd)) => crate::timespan::mjd_to_ns(mjd),
        ("iso" | "isot", _) => crate::timespan::parse_utc_iso(value).map_err(|_| {
            format!("time {shown} is not an ISO date and time (YYYY-MM-DD[THH:MM:SS[.fff]])")
        })?,
        ("mjd", None) => return Err(format!("time {shown}: an MJD is a number")),
        (other, _) => {
            return Err(format!(
                "time {shown}: format {other:.20?} is not supported (iso, isot, mjd)"
            ))
        }
    };
    match scale.as_str() {
        "tai" => Ok(ns),
        "utc" => crate::timespan::utc_to_tai(ns),
        other => Err(format!(
            "time {shown}: scale {other:.20?} is not supported (utc, tai)"
        )),
    }
}

/// Parse an expression. Identifiers that are keys of `bind` are replaced by the bound
/// values.
pub fn parse(text: &str, bind: &BTreeMap<String, Literal>) -> Result<Expr> {
    let toks = tokenize(text)?;
    let mut p = Parser {
        text,
        toks,
        pos: 0,
        bind,
        depth: 0,
    };
    let e = p.or()?;
    if *p.peek() != Tok::End {
        return p.unexpected();
    }
    Ok(e)
}

/// Parse `name=value` bind arguments; values that look like numbers become numbers.
pub fn parse_binds(pairs: &[String]) -> Result<BTreeMap<String, Literal>> {
    let mut out = BTreeMap::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| RegistryError::Invalid(format!("--bind {p:?}: expected NAME=VALUE")))?;
        let lit = if let Ok(i) = v.parse::<i64>() {
            Literal::Int(i)
        } else if let Ok(f) = v.parse::<f64>() {
            Literal::Float(f)
        } else {
            Literal::Text(v.to_owned())
        };
        out.insert(k.trim().to_owned(), lit);
    }
    Ok(out)
}

/// What a name in an expression stands for: its SQL, and whether it holds numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The SQL of the column.
    pub sql: String,
    /// The column holds numbers (a text value compared with it is refused).
    pub numeric: bool,
    /// The column holds UUIDs (compared only with `UUID('…')` values).
    pub uuid: bool,
}

/// Resolves a name to its [`Column`], or says why it cannot be used.
pub type Resolve<'a> = dyn Fn(&str) -> std::result::Result<Column, String> + 'a;

/// Compile an expression to an SQL condition with `?` parameters, for `backend`'s
/// SQL. `resolve` turns a field name into its column, or explains why it cannot.
pub fn to_sql(
    expr: &Expr,
    text: &str,
    resolve: &Resolve<'_>,
    params: &mut Vec<Value>,
    backend: Backend,
) -> Result<String> {
    let operand = |o: &Operand, params: &mut Vec<Value>| operand_sql(o, text, resolve, params);
    // A text value compared with a column of numbers matches nothing: the reference
    // refuses it, and so does valet, naming both.
    let check_types = |a: &Operand, b: &Operand| -> Result<()> {
        for (field, other) in [(a, b), (b, a)] {
            let (Operand::Field { name, column }, Operand::Literal(value)) = (field, other) else {
                continue;
            };
            let Ok(c) = resolve(name) else {
                continue;
            };
            let why = match value {
                Literal::Text(v) if c.numeric => {
                    format!("{name} holds numbers and cannot be compared with the text {v:?}")
                }
                Literal::Uuid(_) => continue,
                v if c.uuid => {
                    format!("{name} holds UUIDs: compare it with UUID('…'), not {v:?}")
                }
                _ => continue,
            };
            return Err(error(text, *column, &why));
        }
        for (field, other) in [(a, b), (b, a)] {
            if let (Operand::Field { name, column }, Operand::Literal(Literal::Uuid(u))) =
                (field, other)
            {
                if resolve(name).is_ok_and(|c| !c.uuid) {
                    return Err(error(
                        text,
                        *column,
                        &format!(
                            "{name} does not hold UUIDs and cannot be compared with UUID('{u}')"
                        ),
                    ));
                }
            }
        }
        Ok(())
    };
    Ok(match expr {
        Expr::Cmp(a, op, b) => {
            check_types(a, b)?;
            let a = operand(a, params)?;
            // `band = r`: an unknown name compared with a known one is most likely a
            // value written without quotes.
            let b = match (b, operand(b, params)) {
                (Operand::Field { name, column }, Err(_)) if !name.contains('.') => {
                    let why = resolve(name).err().unwrap_or_default();
                    return Err(error(
                        text,
                        *column,
                        &format!("{why} (if '{name}' is a value, quote it: '{name}')"),
                    ));
                }
                (_, b) => b?,
            };
            format!("{a} {} {b}", op.sql())
        }
        Expr::In {
            operand: o,
            items,
            negated,
        } => {
            for item in items {
                if let InItem::Value(v) = item {
                    check_types(o, v)?;
                }
            }
            // The operand's SQL is repeated for each range bound, and with it its
            // parameters (arithmetic on a literal has some).
            let mut col_params = Vec::new();
            let col = operand(o, &mut col_params)?;
            let mut parts = Vec::new();
            let mut singles = Vec::new();
            let mut single_params = Vec::new();
            for item in items {
                if let InItem::Value(v) = item {
                    singles.push(operand(v, &mut single_params)?);
                }
            }
            if !singles.is_empty() {
                params.extend(col_params.iter().cloned());
                params.extend(single_params);
                parts.push(format!("{col} IN ({})", singles.join(", ")));
            }
            for item in items {
                let InItem::Range {
                    start,
                    stop,
                    stride,
                } = item
                else {
                    continue;
                };
                params.extend(col_params.iter().cloned());
                params.push(Value::Int(*start));
                params.extend(col_params.iter().cloned());
                params.push(Value::Int(*stop));
                let mut r = format!("({col} >= ? AND {col} <= ?");
                if *stride != 1 {
                    params.extend(col_params.iter().cloned());
                    params.push(Value::Int(*start));
                    params.push(Value::Int(*stride));
                    r.push_str(&format!(" AND ({col} - ?) % ? = 0"));
                }
                r.push(')');
                parts.push(r);
            }
            let joined = format!("({})", parts.join(" OR "));
            if *negated {
                format!("NOT {joined}")
            } else {
                joined
            }
        }
        Expr::And(terms) => balanced(&compile_all(terms, text, resolve, params, backend)?, "AND"),
        Expr::Or(terms) => balanced(&compile_all(terms, text, resolve, params, backend)?, "OR"),
        Expr::Not(a) => format!("NOT ({})", to_sql(a, text, resolve, params, backend)?),
        Expr::Glob {
            operand: o,
            pattern,
        } => {
            let col = operand(o, params)?;
            if pattern == "*" {
                "1 = 1".to_owned()
            } else {
                let (sql, pattern) = glob_sql(&col, pattern, backend);
                params.push(Value::Text(pattern));
                sql
            }
        }
        Expr::Overlaps { field, begin, end } => {
            let Operand::Field { name, column } = field else {
                return Err(error(text, 1, "OVERLAPS needs a timespan on its left"));
            };
            let part = |which: &str| {
                resolve(&format!("{name}.{which}"))
                    .map(|c| c.sql)
                    .map_err(|why| error(text, *column, &why))
            };
            let (b, e) = (part("begin")?, part("end")?);
            // A missing bound is unbounded; a record with neither has no timespan.
            params.extend([
                Value::Int(i64::MIN),
                Value::Int(*end),
                Value::Int(i64::MAX),
                Value::Int(*begin),
            ]);
            let before = if begin == end { "<=" } else { "<" };
            format!(
                "(({b} IS NOT NULL OR {e} IS NOT NULL) AND COALESCE({b}, ?) {before} ? AND COALESCE({e}, ?) > ?)"
            )
        }
    })
}

/// The SQL of an operand: a column, a `?` for a literal, or arithmetic on them.
fn operand_sql(
    o: &Operand,
    text: &str,
    resolve: &Resolve<'_>,
    params: &mut Vec<Value>,
) -> Result<String> {
    match o {
        Operand::Field { name, column } => resolve(name)
            .map(|c| c.sql)
            .map_err(|why| error(text, *column, &why)),
        Operand::Literal(l) => {
            params.push(l.to_value());
            Ok("?".into())
        }
        Operand::Arith {
            left, op, right, ..
        } => {
            let a = operand_sql(left, text, resolve, params)?;
            let b = operand_sql(right, text, resolve, params)?;
            Ok(format!("({a} {} {b})", op.sql()))
        }
        Operand::Neg(inner) => Ok(format!("(-{})", operand_sql(inner, text, resolve, params)?)),
    }
}

/// `GLOB` as the reference compiles it: SQLite's own `GLOB` (case-sensitive, with
/// brackets made literal), PostgreSQL's `LIKE` with the pattern translated (`*` →
/// `%`, `?` → `_`, `%` and `_` escaped). A backslash makes the next character literal.
fn glob_sql(column: &str, pattern: &str, backend: Backend) -> (String, String) {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let (literal, c) = match c {
            '\\' => match chars.next() {
                Some(next) => (true, next),
                None => (true, '\\'),
            },
            c => (false, c),
        };
        match backend {
            Backend::Sqlite => match c {
                '*' | '?' | '[' if literal || c == '[' => out.push_str(&format!("[{c}]")),
                c => out.push(c),
            },
            Backend::Postgres => match c {
                '%' | '_' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                '*' if !literal => out.push('%'),
                '?' if !literal => out.push('_'),
                c => out.push(c),
            },
        }
    }
    let sql = match backend {
        Backend::Sqlite => format!("{column} GLOB ?"),
        Backend::Postgres => format!("{column} LIKE ? ESCAPE '\\'"),
    };
    (sql, out)
}

fn compile_all(
    terms: &[Expr],
    text: &str,
    resolve: &Resolve<'_>,
    params: &mut Vec<Value>,
    backend: Backend,
) -> Result<Vec<String>> {
    terms
        .iter()
        .map(|t| to_sql(t, text, resolve, params, backend))
        .collect()
}

/// Join `terms` with `op`, parenthesized as a balanced tree: the databases parse a
/// flat chain into a tree as deep as it is long, and SQLite refuses trees deeper than
/// 1000, while a balanced one is only log2(terms) deep. Two terms give `(a OP b)`.
fn balanced(terms: &[String], op: &str) -> String {
    match terms {
        [] => String::new(),
        [one] => one.clone(),
        _ => {
            let (a, b) = terms.split_at(terms.len() / 2);
            format!("({} {op} {})", balanced(a, op), balanced(b, op))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<(String, Vec<Value>)> {
        let e = parse(text, &BTreeMap::new())?;
        let mut params = vec![];
        let sql = to_sql(
            &e,
            text,
            &|n| {
                if n == "bad" {
                    Err(format!("unknown field '{n}'"))
                } else {
                    Ok(Column {
                        sql: format!("\"{n}\""),
                        numeric: n == "visit",
                        uuid: n == "dataset_id",
                    })
                }
            },
            &mut params,
            Backend::Sqlite,
        )?;
        Ok((sql, params))
    }

    #[test]
    fn uuid_literals() {
        let id = "01a203bb-6da4-7be3-81cf-049ea15c0d7e";
        let (sql, params) =
            compile(&format!("dataset_id IN (UUID('{id}'), uuid(' {id} '))")).unwrap();
        assert_eq!(sql, "(\"dataset_id\" IN (?, ?))");
        let want = Value::Uuid(id.parse().unwrap());
        assert_eq!(params, [want.clone(), want]);
        let err = |text: &str| compile(text).unwrap_err().to_string();
        let msg = err("dataset_id = UUID('nope')");
        assert!(
            msg.contains("\"nope\" is not a UUID") && msg.contains("column 19"),
            "{msg}"
        );
        assert!(err("dataset_id = UUID(3)").contains("UUID needs a quoted UUID"));
        let msg = err(&format!("dataset_id = '{id}'"));
        assert!(
            msg.contains("dataset_id holds UUIDs: compare it with UUID"),
            "{msg}"
        );
        let msg = err(&format!("visit = UUID('{id}')"));
        assert!(msg.contains("visit does not hold UUIDs"), "{msg}");
    }

    #[test]
    fn comparisons_and_logic() {
        let (sql, params) =
            compile("instrument = 'HSC' AND (visit.exposure_time > 20.5 OR NOT detector != 3)")
                .unwrap();
        assert_eq!(
            sql,
            "(\"instrument\" = ? AND (\"visit.exposure_time\" > ? OR NOT (\"detector\" <> ?)))"
        );
        assert_eq!(
            params,
            vec![Value::Text("HSC".into()), Value::Float(20.5), Value::Int(3)]
        );
    }

    #[test]
    fn in_lists_and_ranges() {
        let (sql, params) = compile("detector IN (1, 5, 10..20, 30..40:5)").unwrap();
        assert_eq!(
            sql,
            "(\"detector\" IN (?, ?) OR (\"detector\" >= ? AND \"detector\" <= ?) OR (\"detector\" >= ? AND \"detector\" <= ? AND (\"detector\" - ?) % ? = 0))"
        );
        assert_eq!(params.len(), 8);
        let (sql, _) = compile("visit NOT IN (1)").unwrap();
        assert_eq!(sql, "NOT (\"visit\" IN (?))");
    }

    #[test]
    fn binds_replace_identifiers() {
        let binds = parse_binds(&["v=42".into(), "name=HSC".into()]).unwrap();
        let e = parse("visit = v AND instrument = name", &binds).unwrap();
        let Expr::And(terms) = e else { panic!() };
        assert_eq!(
            terms[0],
            Expr::Cmp(
                Operand::Field {
                    name: "visit".into(),
                    column: 1
                },
                CmpOp::Eq,
                Operand::Literal(Literal::Int(42))
            )
        );
    }

    #[test]
    fn errors_point_at_the_column() {
        let msg = compile("visit = ").unwrap_err().to_string();
        assert!(
            msg.contains("unexpected end of expression at column 9"),
            "{msg}"
        );
        let msg = compile("visit == 3").unwrap_err().to_string();
        assert!(msg.contains("unexpected '=' at column 8"), "{msg}");
        let msg = compile("visit = 3 AND bad > 1").unwrap_err().to_string();
        assert!(msg.contains("unknown field 'bad' at column 15"), "{msg}");
        // A text value against a column of numbers, either side, in IN lists too.
        for text in ["visit = 'abc'", "'abc' < visit", "visit IN (1, 'abc')"] {
            let msg = compile(text).unwrap_err().to_string();
            assert!(
                msg.contains("visit holds numbers and cannot be compared with the text \"abc\""),
                "{msg}"
            );
        }
        assert!(compile("name = 'abc'").is_ok());
        // A value written without quotes is hinted at.
        let msg = compile("name = bad").unwrap_err().to_string();
        assert!(
            msg.contains("unknown field 'bad' (if 'bad' is a value, quote it: 'bad') at column 8"),
            "{msg}"
        );
        let msg = compile("bad = 'x'").unwrap_err().to_string();
        assert!(!msg.contains("quote it"), "{msg}");
        let msg = compile("name = 'open").unwrap_err().to_string();
        assert!(msg.contains("unterminated string at column 8"), "{msg}");
        let msg = compile("visit IN (1..x)").unwrap_err().to_string();
        assert!(msg.contains("column 14"), "{msg}");
        let msg = compile("visit = 1 visit").unwrap_err().to_string();
        assert!(msg.contains("unexpected 'visit' at column 11"), "{msg}");
        // Found by fuzzing: a large float was shown with all its digits.
        let msg = compile("visit 1e308").unwrap_err().to_string();
        assert!(msg.contains("unexpected '1e308' at column 7"), "{msg}");
        let long = "x".repeat(5000);
        let msg = compile(&format!("visit = 1 {long}"))
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 200, "{msg}");
        let msg = compile(&format!("visit = 1 '{long}'"))
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 200, "{msg}");
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |n: usize| format!("{}visit = 1{}", "(".repeat(n), ")".repeat(n));
        assert!(compile(&deep(MAX_DEPTH)).is_ok());
        let msg = compile(&deep(10_000)).unwrap_err().to_string();
        assert!(
            msg.contains("expression nested more than 200 levels deep at column 201"),
            "{msg}"
        );
        assert_eq!(msg.lines().count(), 1);
        assert!(msg.len() < 200, "the whole expression is quoted: {msg}");
        let nots = |n: usize| format!("{}visit = 1", "NOT ".repeat(n));
        assert!(compile(&nots(MAX_DEPTH)).is_ok());
        let msg = compile(&nots(30_000)).unwrap_err().to_string();
        assert!(
            msg.contains("nested more than 200 levels deep at column 801"),
            "{msg}"
        );
        // Parentheses and NOT count together.
        let mixed = "NOT (".repeat(101) + "visit = 1" + &")".repeat(101);
        let msg = compile(&mixed).unwrap_err().to_string();
        assert!(msg.contains("nested more than 200 levels deep"), "{msg}");
        // Unary minus nests, within the same limit.
        assert_eq!(compile("visit = --1").unwrap().1, vec![Value::Int(1)]);
        let minus = format!("visit = {}visit", "-".repeat(10_000));
        let msg = compile(&minus).unwrap_err().to_string();
        assert!(msg.contains("nested more than 200 levels deep"), "{msg}");
        // So do arithmetic chains, which are as deep as they are long.
        let chain = format!("visit = 1{}", " + 1".repeat(10_000));
        let msg = compile(&chain).unwrap_err().to_string();
        assert!(msg.contains("nested more than 200 levels deep"), "{msg}");
    }

    #[test]
    fn arithmetic() {
        let (sql, params) = compile("visit + 1 = 4").unwrap();
        assert_eq!(sql, "(\"visit\" + ?) = ?");
        assert_eq!(params, vec![Value::Int(1), Value::Int(4)]);
        // Precedence, left association, unary minus, parentheses around an operand.
        let (sql, _) = compile("visit * 2 - detector / 3 % 2 > -visit").unwrap();
        assert_eq!(
            sql,
            "((\"visit\" * ?) - ((\"detector\" / ?) % ?)) > (-\"visit\")"
        );
        let (sql, _) = compile("(visit + 1) * 2 = 8 AND (detector = 1)").unwrap();
        assert_eq!(sql, "(((\"visit\" + ?) * ?) = ? AND \"detector\" = ?)");
        let (sql, _) = compile("(visit + 1) IN (2, 3)").unwrap();
        assert_eq!(sql, "((\"visit\" + ?) IN (?, ?))");
        let msg = compile("visit + 'a' = 1").unwrap_err().to_string();
        assert!(
            msg.contains("cannot take part in arithmetic at column 7"),
            "{msg}"
        );
        let msg = compile("visit + 1 = 'a'").unwrap_err().to_string();
        assert!(msg.contains("cannot be compared with the text"), "{msg}");
    }

    #[test]
    fn times_globs_overlaps_and_binds() {
        // 2020-01-01T00:00:00 UTC is 37 s later in TAI.
        let utc = 1_577_836_800_000_000_000i64;
        let tai = utc + 37_000_000_000;
        for text in [
            "visit.timespan.begin > T'2020-01-01T00:00:00'",
            "visit.timespan.begin > T'2020-01-01 00:00:00/utc'",
            "visit.timespan.begin > T'2020-01-01'",
            "visit.timespan.begin > T'isot/2020-01-01T00:00:00'",
            "visit.timespan.begin > T'2020-01-01T00:00:37/tai'",
            "visit.timespan.begin > T'58849.0'",
            "visit.timespan.begin > t'mjd/58849.0/tai'",
        ] {
            let (_, params) = compile(text).unwrap();
            let expected = if text.contains("58849") {
                tai - 37_000_000_000
            } else {
                tai
            };
            assert_eq!(params, vec![Value::Int(expected)], "{text}");
        }
        // Found by fuzzing: errors about time literals spanning lines or long ones.
        for text in [
            "1.5 T' and \n day_obs '",
            &format!("visit > T'{}'", "x".repeat(500)),
        ] {
            let msg = compile(text).unwrap_err().to_string();
            assert!(msg.lines().count() == 1 && msg.len() < 300, "{msg}");
        }
        let msg = compile("visit.timespan.begin > T'2020-13-01'")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("not an ISO date") && msg.contains("column 24"),
            "{msg}"
        );
        let msg = compile("visit.timespan.begin > T'2020-01-01/tt'")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("scale \"tt\" is not supported"), "{msg}");

        let (sql, params) = compile("GLOB(name, 'HSC-*') AND NOT glob(name, 'a?[b]\\*')").unwrap();
        assert_eq!(sql, "(\"name\" GLOB ? AND NOT (\"name\" GLOB ?))");
        assert_eq!(
            params,
            vec![
                Value::Text("HSC-*".into()),
                Value::Text("a?[[]b][*]".into())
            ]
        );
        let e = parse("GLOB(name, 'a_%*?\\*')", &BTreeMap::new()).unwrap();
        let mut params = vec![];
        let sql = to_sql(
            &e,
            "",
            &|n| {
                Ok(Column {
                    sql: n.into(),
                    numeric: false,
                    uuid: false,
                })
            },
            &mut params,
            Backend::Postgres,
        )
        .unwrap();
        assert_eq!(sql, "name LIKE ? ESCAPE '\\'");
        assert_eq!(params, vec![Value::Text("a\\_\\%%_*".into())]);
        assert_eq!(compile("GLOB(name, '*')").unwrap().0, "1 = 1");
        assert!(compile("GLOB(name, 3)")
            .unwrap_err()
            .to_string()
            .contains("quoted pattern"));

        let (sql, params) =
            compile("visit.timespan OVERLAPS (T'2020-01-01', T'2020-01-02')").unwrap();
        assert_eq!(
            sql,
            "((\"visit.timespan.begin\" IS NOT NULL OR \"visit.timespan.end\" IS NOT NULL) AND COALESCE(\"visit.timespan.begin\", ?) < ? AND COALESCE(\"visit.timespan.end\", ?) > ?)"
        );
        assert_eq!(params[1], Value::Int(tai + 86_400_000_000_000));
        assert_eq!(params[3], Value::Int(tai));
        let (sql, _) = compile("visit.timespan OVERLAPS T'2020-01-01'").unwrap();
        assert!(sql.contains("<= ?"), "{sql}");
        let msg = compile("visit OVERLAPS T'2020-01-01'")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("needs a timespan"), "{msg}");

        let binds = parse_binds(&["v=42".into()]).unwrap();
        let e = parse("visit = :v", &binds).unwrap();
        assert_eq!(
            e,
            Expr::Cmp(
                Operand::Field {
                    name: "visit".into(),
                    column: 1
                },
                CmpOp::Eq,
                Operand::Literal(Literal::Int(42))
            )
        );
        let msg = parse("visit = :w", &binds).unwrap_err().to_string();
        assert!(
            msg.contains("no value is bound to :w") && msg.contains("column 9"),
            "{msg}"
        );
        // A stride is still a stride.
        assert_eq!(compile("visit IN (1..9:2)").unwrap().1.len(), 4);
    }

    #[test]
    fn long_chains_stay_shallow() {
        for op in ["AND", "OR"] {
            let text = vec!["visit = 1"; 100_000].join(&format!(" {op} "));
            let (sql, params) = compile(&text).unwrap();
            assert_eq!(params.len(), 100_000);
            let mut depth = 0usize;
            let mut deepest = 0;
            for c in sql.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                deepest = deepest.max(depth);
            }
            assert!(deepest <= 17, "{op}: {deepest} levels");
        }
        let (sql, _) = compile("visit = 1 AND visit = 2 AND visit = 3").unwrap();
        assert_eq!(sql, "(\"visit\" = ? AND (\"visit\" = ? AND \"visit\" = ?))");
    }
}
