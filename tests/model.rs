//! Model-based test: random sequences of every kind of write, checked after each step
//! against a plain in-memory model of the repository.
//!
//! A seeded generator (splitmix64) draws sequences of operations — imports into new
//! and existing RUNs, `put`, chain edits of nested chains in every mode, TAGGED
//! associate and disassociate, certify and decertify, run and collection removal
//! (with and without unlinking from chains), prune (purge, unstore, disassociate) —
//! from the model's current state. The model predicts each operation's outcome
//! (accepted, or refused for a legitimate reason) and the state that follows; the
//! operation then goes to the engine exactly as a new front end would send it: the
//! plain write functions (or `Repo` methods), with none of the CLI's extra ObsCore
//! bookkeeping. After every step the test asserts:
//!
//! 1. the engine accepted or refused the operation as the model predicted, and its
//!    collections, chain children, memberships and validity ranges are the model's;
//! 2. the live ObsCore table (in RUN, TAGGED or CHAINED mode) equals a rebuild and
//!    holds exactly the datasets the model predicts for the mode;
//! 3. `valet check` reports nothing;
//! 4. find-first through every chain equals a plain depth-first walk of the model's
//!    chains (CALIBRATION collections skipped for other types; calibrations looked up
//!    at a time).
//!
//! A failure prints the mode, backend, seed, step, the problems and every operation
//! so far; with `VALET_MODEL_SHRINK=1` it also shrinks them to a minimal sequence
//! that fails the same way. Ignored tests: `replay` runs one seed again
//! (`VALET_MODEL_SEED`, `VALET_MODEL_MODE`, `VALET_MODEL_OPS`); `soak` runs
//! `VALET_MODEL_SOAK` sequences (default 5000) and lists every kind of failure it
//! sees. The `known_*` tests are minimal reproducers of the failures found so far.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::OnceLock;
use std::time::Instant;

use common::{new_repo, Backend, Rng, TestRepo};
use uuid::Uuid;
use valet::collections::calibration::{certify, decertify};
use valet::collections::chains::{collection_chain, get_chain, ChainMode};
use valet::collections::removal::{remove_collections, remove_runs};
use valet::collections::tagged::{associate, disassociate};
use valet::collections::DatasetQuery;
use valet::registry::collections::{all_collections, find_collection, register_collection};
use valet::registry::{CollectionType, DataId, Timespan, Value};
use valet::transfers::{
    import_export, Association, CollectionEntry, DatasetFile, Entry, ExportFile, ImportOptions,
};
use valet::Repo;

// ---------------------------------------------------------------------------------
// The world: names, dataset types, data IDs, times.

const INSTRUMENT: &str = "LSSTCam-imSim";
/// RUN names; the RUN-mode table takes those matching [`RUN_PATTERN`].
const RUNS: [&str; 6] = [
    "obs/r0",
    "obs/r1",
    "obs/r2",
    "obs/r3",
    "scratch/r0",
    "scratch/r1",
];
const RUN_PATTERN: &str = "obs/.*";
const TAGS: [&str; 2] = ["tag/a", "tag/b"];
const CALIBS: [&str; 2] = ["calib/a", "calib/b"];
const CHAINS: [&str; 4] = ["chain/top", "chain/mid", "chain/low", "chain/side"];
/// The TAGGED-mode table's collection.
const TARGET_TAG: &str = "tag/a";
/// The CHAINED-mode table's chain, which the sequences keep editing.
const TARGET_CHAIN: &str = "chain/top";
/// Every sequence starts with these empty RUNs, the TAGGED table's collection, and
/// these chains (children first): the CHAINED table's chain searches `obs/r0`, then
/// a nested chain of `tag/a` and `scratch/r0`. The tables then start empty, and
/// datasets soon shadow each other along the chain.
const INITIAL_RUNS: [&str; 2] = ["obs/r0", "scratch/r0"];
const INITIAL_CHAINS: [(&str, &[&str]); 2] = [
    ("chain/mid", &[TARGET_TAG, "scratch/r0"]),
    (TARGET_CHAIN, &["obs/r0", "chain/mid"]),
];
/// Detectors and exposures/visits used: few, so data IDs collide often.
const DETECTORS: i64 = 3;
const NUMBERS: i64 = 3;
/// Biases exist for one more detector.
const BIAS_DETECTORS: i64 = 4;
/// 2022-01-01T00:00:00 TAI, and a day, in nanoseconds; validity ranges are whole days.
const T0: i64 = 1_640_995_200_000_000_000;
const DAY: i64 = 86_400_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Ty {
    Raw,
    Calexp,
    Bias,
}

const TYPES: [Ty; 3] = [Ty::Raw, Ty::Calexp, Ty::Bias];

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Raw => "raw",
            Ty::Calexp => "calexp",
            Ty::Bias => "bias",
        }
    }

    fn is_calibration(self) -> bool {
        self == Ty::Bias
    }

    /// Whether the ObsCore configuration gives this type rows.
    fn in_obscore(self) -> bool {
        self != Ty::Bias
    }

    /// The second dimension of the data ID besides the detector.
    fn number_dimension(self) -> Option<&'static str> {
        match self {
            Ty::Raw => Some("exposure"),
            Ty::Calexp => Some("visit"),
            Ty::Bias => None,
        }
    }

    fn data_id(self, k: Key) -> DataId {
        let mut d = DataId::new();
        d.insert("instrument".into(), Value::from(INSTRUMENT));
        d.insert("detector".into(), Value::Int(k.det));
        if let Some(dim) = self.number_dimension() {
            d.insert(dim.into(), Value::Int(k.n));
        }
        d
    }

    fn key_of(self, d: &DataId) -> Key {
        let int = |name: &str| d.get(name).and_then(Value::as_i64).unwrap_or(-1);
        Key {
            det: int("detector"),
            n: self.number_dimension().map(int).unwrap_or(0),
        }
    }
}

/// A data ID, as its detector and exposure/visit (0 for biases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    det: i64,
    n: i64,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.det, self.n)
    }
}

/// A dataset's handle: the number the generator gave it, stable across replays (the
/// engine's ids are not, for datasets it makes up itself).
type H = u32;

/// A validity range in whole days from [`T0`]; `None` is unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    begin: Option<i64>,
    end: Option<i64>,
}

impl Span {
    fn timespan(self) -> Timespan {
        Timespan::new(self.begin.map(day), self.end.map(day))
    }

    /// As stored: unbounded ends are the extreme integers.
    fn stored(self) -> (i64, i64) {
        let t = self.timespan();
        (t.begin_or_min(), t.end_or_max())
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<i64>| v.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
        write!(f, "[{}, {})", show(self.begin), show(self.end))
    }
}

fn day(d: i64) -> i64 {
    T0 + d * DAY
}

/// A stored validity range in days from [`T0`] (`-` for unbounded).
fn show_stored(begin: i64, end: i64) -> String {
    let show = |t: i64, unbounded: i64| {
        if t == unbounded {
            "-".to_string()
        } else if (t - T0) % DAY == 0 {
            ((t - T0) / DAY).to_string()
        } else {
            format!(
                "{}+{}ns",
                (t - T0).div_euclid(DAY),
                (t - T0).rem_euclid(DAY)
            )
        }
    };
    format!("[{}, {})", show(begin, i64::MIN), show(end, i64::MAX))
}

// ---------------------------------------------------------------------------------
// Operations.

#[derive(Clone, Debug)]
enum PruneHow {
    Purge(String),
    Unstore,
    Disassociate(Vec<String>),
}

/// One write, as a front end would ask for it.
#[derive(Clone, Debug)]
enum Op {
    /// Import an export model: a RUN with datasets, optionally also associated with a
    /// TAGGED collection the file defines.
    Import {
        run: String,
        datasets: Vec<(H, Ty, Key)>,
        tag: Option<String>,
    },
    /// `Repo::put` of one dataset (its RUN is registered if missing).
    Put {
        h: H,
        ty: Ty,
        key: Key,
        run: String,
    },
    /// `collection_chain`; for `Pop`, `children` are positions.
    Chain {
        parent: String,
        mode: ChainMode,
        children: Vec<String>,
    },
    /// Associate with a TAGGED collection (registered if missing, as the CLI does).
    Associate {
        tag: String,
        hs: Vec<H>,
    },
    Disassociate {
        tag: String,
        hs: Vec<H>,
    },
    /// Certify into a CALIBRATION collection (registered if missing, as the CLI does).
    Certify {
        calib: String,
        hs: Vec<H>,
        span: Span,
    },
    /// Decertify biases over a span, for some detectors or all.
    Decertify {
        calib: String,
        span: Span,
        dets: Option<Vec<i64>>,
    },
    RemoveRuns {
        runs: Vec<String>,
        unlink: bool,
    },
    RemoveCollections {
        names: Vec<String>,
        unlink: bool,
    },
    Prune {
        hs: Vec<H>,
        how: PruneHow,
    },
}

impl Op {
    /// The kind of operation, for failure summaries.
    fn kind(&self) -> &'static str {
        match self {
            Op::Import { .. } => "import",
            Op::Put { .. } => "put",
            Op::Chain { mode, .. } => match mode {
                ChainMode::Redefine => "chain-redefine",
                ChainMode::Extend => "chain-extend",
                ChainMode::Prepend => "chain-prepend",
                ChainMode::Remove => "chain-remove",
                ChainMode::Pop => "chain-pop",
            },
            Op::Associate { .. } => "associate",
            Op::Disassociate { .. } => "disassociate",
            Op::Certify { .. } => "certify",
            Op::Decertify { .. } => "decertify",
            Op::RemoveRuns { .. } => "remove-runs",
            Op::RemoveCollections { .. } => "remove-collections",
            Op::Prune { how, .. } => match how {
                PruneHow::Purge(_) => "prune-purge",
                PruneHow::Unstore => "prune-unstore",
                PruneHow::Disassociate(_) => "prune-disassociate",
            },
        }
    }
}

fn handles(hs: &[H]) -> String {
    let v: Vec<String> = hs.iter().map(|h| format!("d{h}")).collect();
    format!("[{}]", v.join(" "))
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Import { run, datasets, tag } => {
                let v: Vec<String> = datasets
                    .iter()
                    .map(|(h, ty, k)| format!("d{h}:{}{k}", ty.name()))
                    .collect();
                write!(f, "import into {run} [{}]", v.join(" "))?;
                if let Some(t) = tag {
                    write!(f, " also tagged {t}")?;
                }
                Ok(())
            }
            Op::Put { h, ty, key, run } => write!(f, "put d{h}:{}{key} into {run}", ty.name()),
            Op::Chain {
                parent,
                mode,
                children,
            } => write!(
                f,
                "chain {parent} {} [{}]",
                format!("{mode:?}").to_lowercase(),
                children.join(", ")
            ),
            Op::Associate { tag, hs } => write!(f, "associate {} with {tag}", handles(hs)),
            Op::Disassociate { tag, hs } => {
                write!(f, "disassociate {} from {tag}", handles(hs))
            }
            Op::Certify { calib, hs, span } => {
                write!(f, "certify {} into {calib} over {span}", handles(hs))
            }
            Op::Decertify { calib, span, dets } => {
                write!(f, "decertify bias in {calib} over {span}")?;
                if let Some(d) = dets {
                    write!(f, " for detectors {d:?}")?;
                }
                Ok(())
            }
            Op::RemoveRuns { runs, unlink } => write!(
                f,
                "remove-runs [{}]{}",
                runs.join(", "),
                if *unlink {
                    " unlinking from chains"
                } else {
                    ""
                }
            ),
            Op::RemoveCollections { names, unlink } => write!(
                f,
                "remove-collections [{}]{}",
                names.join(", "),
                if *unlink {
                    " removing from parents"
                } else {
                    ""
                }
            ),
            Op::Prune { hs, how } => match how {
                PruneHow::Purge(run) => write!(f, "prune {} purge from {run}", handles(hs)),
                PruneHow::Unstore => write!(f, "prune {} unstore", handles(hs)),
                PruneHow::Disassociate(tags) => {
                    write!(
                        f,
                        "prune {} disassociate from [{}]",
                        handles(hs),
                        tags.join(", ")
                    )
                }
            },
        }
    }
}

// ---------------------------------------------------------------------------------
// The model.

#[derive(Clone, Debug)]
struct Ds {
    ty: Ty,
    key: Key,
    run: String,
}

/// One validity range of a bias, as stored.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CalRange {
    h: H,
    det: i64,
    begin: i64,
    end: i64,
}

#[derive(Clone, Debug)]
enum Coll {
    Run(BTreeMap<(Ty, Key), H>),
    Tagged(BTreeMap<(Ty, Key), H>),
    Calib(Vec<CalRange>),
    Chain(Vec<String>),
}

impl Coll {
    fn kind(&self) -> CollectionType {
        match self {
            Coll::Run(_) => CollectionType::Run,
            Coll::Tagged(_) => CollectionType::Tagged,
            Coll::Calib(_) => CollectionType::Calibration,
            Coll::Chain(_) => CollectionType::Chained,
        }
    }

    fn empty(kind: CollectionType) -> Coll {
        match kind {
            CollectionType::Run => Coll::Run(BTreeMap::new()),
            CollectionType::Tagged => Coll::Tagged(BTreeMap::new()),
            CollectionType::Calibration => Coll::Calib(Vec::new()),
            CollectionType::Chained => Coll::Chain(Vec::new()),
        }
    }
}

/// What the repository should hold.
#[derive(Clone, Debug, Default)]
struct Model {
    colls: BTreeMap<String, Coll>,
    datasets: BTreeMap<H, Ds>,
}

type Verdict = Result<(), String>;

fn refuse<T>(why: impl Into<String>) -> Result<T, String> {
    Err(why.into())
}

impl Model {
    /// The state every sequence starts from (see [`INITIAL_CHAINS`]).
    fn initial() -> Model {
        let mut m = Model::default();
        for run in INITIAL_RUNS {
            m.colls.insert(run.into(), Coll::Run(BTreeMap::new()));
        }
        m.colls
            .insert(TARGET_TAG.into(), Coll::Tagged(BTreeMap::new()));
        for (chain, kids) in INITIAL_CHAINS {
            let kids = kids.iter().map(|k| k.to_string()).collect();
            m.colls.insert(chain.into(), Coll::Chain(kids));
        }
        m
    }

    fn kind(&self, name: &str) -> Option<CollectionType> {
        self.colls.get(name).map(Coll::kind)
    }

    fn names_of(&self, kind: CollectionType) -> Vec<String> {
        self.colls
            .iter()
            .filter(|(_, c)| c.kind() == kind)
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn children(&self, chain: &str) -> &[String] {
        match self.colls.get(chain) {
            Some(Coll::Chain(kids)) => kids,
            _ => &[],
        }
    }

    fn members(&self, tag: &str) -> Vec<H> {
        match self.colls.get(tag) {
            Some(Coll::Tagged(m)) => m.values().copied().collect(),
            _ => vec![],
        }
    }

    /// The outcome of `op` and the state after it; a refusal changes nothing.
    fn predict(&self, op: &Op) -> (Verdict, Model) {
        let mut next = self.clone();
        match next.apply(op) {
            Ok(()) => (Ok(()), next),
            Err(why) => (Err(why), self.clone()),
        }
    }

    fn apply(&mut self, op: &Op) -> Verdict {
        match op {
            Op::Import { run, datasets, tag } => self.import(run, datasets, tag.as_deref()),
            Op::Put { h, ty, key, run } => {
                self.register(run, CollectionType::Run)?;
                self.insert(run, &[(*h, *ty, *key)])
            }
            Op::Chain {
                parent,
                mode,
                children,
            } => self.chain_edit(parent, *mode, children),
            Op::Associate { tag, hs } => {
                self.register(tag, CollectionType::Tagged)?;
                self.associate(tag, hs)
            }
            Op::Disassociate { tag, hs } => self.disassociate(tag, hs),
            Op::Certify { calib, hs, span } => self.certify(calib, hs, *span),
            Op::Decertify { calib, span, dets } => self.decertify(calib, *span, dets.as_deref()),
            Op::RemoveRuns { runs, unlink } => {
                for run in runs {
                    match self.kind(run) {
                        None => return refuse(format!("{run} does not exist")),
                        Some(CollectionType::Run) => {}
                        Some(k) => return refuse(format!("{run} is {k}, not a RUN")),
                    }
                    self.unlink(run, *unlink)?;
                    let hs: Vec<H> = self
                        .datasets
                        .iter()
                        .filter(|(_, d)| &d.run == run)
                        .map(|(h, _)| *h)
                        .collect();
                    self.delete(&hs);
                    self.colls.remove(run);
                }
                Ok(())
            }
            Op::RemoveCollections { names, unlink } => {
                for name in names {
                    match self.kind(name) {
                        None => return refuse(format!("{name} does not exist")),
                        Some(CollectionType::Run) => {
                            return refuse(format!("{name} is a RUN; remove-collections refuses"))
                        }
                        Some(_) => {}
                    }
                    self.unlink(name, *unlink)?;
                    self.colls.remove(name);
                }
                Ok(())
            }
            Op::Prune { hs, how } => {
                self.require_datasets(hs)?;
                match how {
                    PruneHow::Purge(run) => {
                        if let Some(h) = hs.iter().find(|h| &self.datasets[h].run != run) {
                            return refuse(format!("d{h} is not in {run}"));
                        }
                        self.delete(hs);
                        Ok(())
                    }
                    PruneHow::Unstore => Ok(()),
                    PruneHow::Disassociate(tags) => {
                        for tag in tags {
                            self.disassociate(tag, hs)?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// Register a collection, or accept an existing one of the same type.
    fn register(&mut self, name: &str, kind: CollectionType) -> Verdict {
        match self.kind(name) {
            Some(k) if k == kind => Ok(()),
            Some(k) => refuse(format!("{name} exists as {k}, not {kind}")),
            None => {
                self.colls.insert(name.into(), Coll::empty(kind));
                Ok(())
            }
        }
    }

    fn require_datasets(&self, hs: &[H]) -> Verdict {
        match hs.iter().find(|h| !self.datasets.contains_key(h)) {
            Some(h) => refuse(format!("dataset d{h} does not exist")),
            None => Ok(()),
        }
    }

    /// New datasets in an existing RUN; a data ID already there (or twice in the
    /// batch) refuses the whole insert.
    fn insert(&mut self, run: &str, items: &[(H, Ty, Key)]) -> Verdict {
        let Some(Coll::Run(held)) = self.colls.get_mut(run) else {
            return refuse(format!("{run} is not a RUN"));
        };
        for (i, (_, ty, key)) in items.iter().enumerate() {
            if held.contains_key(&(*ty, *key))
                || items[..i].iter().any(|(_, t, k)| t == ty && k == key)
            {
                return refuse(format!("{} {key} is already in {run}", ty.name()));
            }
        }
        for (h, ty, key) in items {
            held.insert((*ty, *key), *h);
        }
        for (h, ty, key) in items {
            self.datasets.insert(
                *h,
                Ds {
                    ty: *ty,
                    key: *key,
                    run: run.into(),
                },
            );
        }
        Ok(())
    }

    fn import(&mut self, run: &str, items: &[(H, Ty, Key)], tag: Option<&str>) -> Verdict {
        self.register(run, CollectionType::Run)?;
        if let Some(tag) = tag {
            self.register(tag, CollectionType::Tagged)?;
        }
        self.insert(run, items)?;
        if let Some(tag) = tag {
            let hs: Vec<H> = items.iter().map(|(h, _, _)| *h).collect();
            self.associate(tag, &hs)?;
        }
        Ok(())
    }

    fn associate(&mut self, tag: &str, hs: &[H]) -> Verdict {
        self.require_datasets(hs)?;
        let keys: Vec<(H, (Ty, Key))> = hs
            .iter()
            .map(|h| (*h, (self.datasets[h].ty, self.datasets[h].key)))
            .collect();
        let Some(Coll::Tagged(members)) = self.colls.get_mut(tag) else {
            return refuse(format!("{tag} is not TAGGED"));
        };
        let mut adding: BTreeMap<(Ty, Key), H> = BTreeMap::new();
        for (h, k) in keys {
            match members.get(&k) {
                Some(m) if *m == h => {}
                Some(m) => return refuse(format!("{tag} already holds d{m} for d{h}'s data ID")),
                None => {
                    if let Some(other) = adding.insert(k, h) {
                        if other != h {
                            return refuse(format!("d{other} and d{h} share a data ID"));
                        }
                    }
                }
            }
        }
        members.extend(adding);
        Ok(())
    }

    fn disassociate(&mut self, tag: &str, hs: &[H]) -> Verdict {
        match self.kind(tag) {
            None => return refuse(format!("{tag} does not exist")),
            Some(CollectionType::Tagged) => {}
            Some(k) => return refuse(format!("{tag} is {k}, not TAGGED")),
        }
        self.require_datasets(hs)?;
        if let Some(Coll::Tagged(members)) = self.colls.get_mut(tag) {
            members.retain(|_, m| !hs.contains(m));
        }
        Ok(())
    }

    fn certify(&mut self, calib: &str, hs: &[H], span: Span) -> Verdict {
        let (begin, end) = span.stored();
        self.register(calib, CollectionType::Calibration)?;
        if begin >= end {
            return refuse("empty validity range");
        }
        self.require_datasets(hs)?;
        let mut new = Vec::new();
        for h in hs {
            let d = &self.datasets[h];
            if !d.ty.is_calibration() {
                return refuse(format!("d{h} is not a calibration"));
            }
            if new.iter().any(|r: &CalRange| r.det == d.key.det) {
                return refuse(format!("two biases of detector {} in one call", d.key.det));
            }
            new.push(CalRange {
                h: *h,
                det: d.key.det,
                begin,
                end,
            });
        }
        let Some(Coll::Calib(ranges)) = self.colls.get_mut(calib) else {
            return refuse(format!("{calib} is not CALIBRATION"));
        };
        for n in &new {
            if ranges
                .iter()
                .any(|r| r.det == n.det && r.end > n.begin && n.end > r.begin)
            {
                return refuse(format!("d{} overlaps an existing range", n.h));
            }
        }
        ranges.extend(new);
        Ok(())
    }

    fn decertify(&mut self, calib: &str, span: Span, dets: Option<&[i64]>) -> Verdict {
        let (tb, te) = span.stored();
        let Some(Coll::Calib(ranges)) = self.colls.get_mut(calib) else {
            return refuse(format!("{calib} is not an existing CALIBRATION collection"));
        };
        if tb >= te {
            // As certify: an empty range is refused.
            return refuse("empty time range");
        }
        let mut out = Vec::new();
        for r in ranges.drain(..) {
            let selected = dets.is_none_or(|d| d.contains(&r.det));
            if !(selected && r.end > tb && te > r.begin) {
                out.push(r);
                continue;
            }
            if r.begin < tb {
                out.push(CalRange {
                    end: r.end.min(tb),
                    ..r.clone()
                });
            }
            if te < r.end {
                out.push(CalRange {
                    begin: r.begin.max(te),
                    ..r
                });
            }
        }
        *ranges = out;
        Ok(())
    }

    /// Chains that list `name` directly.
    fn parents(&self, name: &str) -> Vec<String> {
        self.colls
            .iter()
            .filter(|(_, c)| matches!(c, Coll::Chain(kids) if kids.iter().any(|k| k == name)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Refuse removing a collection a chain lists, or take it out of those chains.
    fn unlink(&mut self, name: &str, unlink: bool) -> Verdict {
        let parents = self.parents(name);
        if !parents.is_empty() && !unlink {
            return refuse(format!("{name} is listed by {}", parents.join(", ")));
        }
        for p in parents {
            if let Some(Coll::Chain(kids)) = self.colls.get_mut(&p) {
                kids.retain(|k| k != name);
            }
        }
        Ok(())
    }

    /// Datasets go, and every membership and validity range with them.
    fn delete(&mut self, hs: &[H]) {
        for h in hs {
            self.datasets.remove(h);
        }
        for c in self.colls.values_mut() {
            match c {
                Coll::Run(m) | Coll::Tagged(m) => m.retain(|_, v| !hs.contains(v)),
                Coll::Calib(r) => r.retain(|r| !hs.contains(&r.h)),
                Coll::Chain(_) => {}
            }
        }
    }

    /// Whether `from` reaches `to` through chains, ignoring the edges of `skip`.
    fn reaches(&self, from: &str, to: &str, skip: &str) -> bool {
        if from == to {
            return true;
        }
        if from == skip {
            return false;
        }
        self.children(from)
            .iter()
            .any(|k| self.reaches(k, to, skip))
    }

    fn chain_edit(&mut self, parent: &str, mode: ChainMode, children: &[String]) -> Verdict {
        match self.kind(parent) {
            Some(CollectionType::Chained) => {}
            Some(k) => return refuse(format!("{parent} is {k}, not CHAINED")),
            None if matches!(mode, ChainMode::Remove | ChainMode::Pop) => {
                return refuse(format!("chain {parent} does not exist"))
            }
            None => {
                self.colls.insert(parent.into(), Coll::Chain(vec![]));
            }
        }
        let old = self.children(parent).to_vec();
        let require = |m: &Model| -> Verdict {
            match children.iter().find(|c| m.kind(c).is_none()) {
                Some(c) => refuse(format!("{c} does not exist")),
                None => Ok(()),
            }
        };
        let new: Vec<String> = match mode {
            ChainMode::Redefine => {
                require(self)?;
                children.to_vec()
            }
            ChainMode::Extend | ChainMode::Prepend => {
                require(self)?;
                let kept = old.iter().filter(|c| !children.contains(c)).cloned();
                if mode == ChainMode::Extend {
                    kept.chain(children.iter().cloned()).collect()
                } else {
                    children.iter().cloned().chain(kept).collect()
                }
            }
            ChainMode::Remove => {
                require(self)?;
                old.iter()
                    .filter(|c| !children.contains(c))
                    .cloned()
                    .collect()
            }
            ChainMode::Pop => {
                let positions: Vec<i64> = if children.is_empty() {
                    vec![0]
                } else {
                    children
                        .iter()
                        .map(|p| p.parse().expect("a position"))
                        .collect()
                };
                let mut drop = BTreeSet::new();
                for p in positions {
                    let i = if p < 0 { old.len() as i64 + p } else { p };
                    if i < 0 || i >= old.len() as i64 {
                        return refuse(format!("position {p} is out of range"));
                    }
                    drop.insert(i as usize);
                }
                old.iter()
                    .enumerate()
                    .filter(|(i, _)| !drop.contains(i))
                    .map(|(_, c)| c.clone())
                    .collect()
            }
        };
        let mut seen = BTreeSet::new();
        let new: Vec<String> = new.into_iter().filter(|c| seen.insert(c.clone())).collect();
        if let Some(c) = new.iter().find(|c| self.reaches(c, parent, parent)) {
            return refuse(format!("{c} in {parent} would make a cycle"));
        }
        self.colls.insert(parent.into(), Coll::Chain(new));
        Ok(())
    }

    /// The search path of a collection: depth-first, chains replaced by their
    /// children, each collection once (first occurrence wins).
    fn flatten(&self, name: &str) -> Vec<String> {
        fn visit(m: &Model, name: &str, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
            if !seen.insert(name.to_owned()) {
                return;
            }
            match m.colls.get(name) {
                Some(Coll::Chain(kids)) => {
                    for k in kids {
                        visit(m, k, seen, out);
                    }
                }
                Some(_) => out.push(name.to_owned()),
                None => {}
            }
        }
        let mut out = Vec::new();
        visit(self, name, &mut BTreeSet::new(), &mut out);
        out
    }

    /// Find-first of one type through a collection: for each data ID, the first
    /// collection of the path holding a dataset of it, and that dataset. CALIBRATION
    /// collections count only for calibration types at a time.
    fn find_first(&self, name: &str, ty: Ty, at: Option<i64>) -> BTreeMap<Key, (H, String)> {
        let mut out: BTreeMap<Key, (H, String)> = BTreeMap::new();
        for c in self.flatten(name) {
            match &self.colls[&c] {
                Coll::Run(m) | Coll::Tagged(m) => {
                    for ((t, k), h) in m {
                        if *t == ty {
                            out.entry(*k).or_insert_with(|| (*h, c.clone()));
                        }
                    }
                }
                Coll::Calib(ranges) => {
                    let (Some(at), true) = (at, ty.is_calibration()) else {
                        continue;
                    };
                    for r in ranges.iter().filter(|r| r.begin <= at && at < r.end) {
                        let k = self.datasets[&r.h].key;
                        out.entry(k).or_insert_with(|| (r.h, c.clone()));
                    }
                }
                Coll::Chain(_) => unreachable!("flatten lists no chains"),
            }
        }
        out
    }

    /// Datasets found first through the CHAINED table's chain that hide another of
    /// the same type and data ID further down: removing them must bring that one in.
    fn shadowing(&self) -> Vec<H> {
        let mut first: BTreeMap<(Ty, Key), H> = BTreeMap::new();
        let mut out = BTreeSet::new();
        for c in self.flatten(TARGET_CHAIN) {
            if let Coll::Run(m) | Coll::Tagged(m) = &self.colls[&c] {
                for (k, h) in m {
                    match first.get(k) {
                        Some(w) if w != h => {
                            out.insert(*w);
                        }
                        Some(_) => {}
                        None => {
                            first.insert(*k, *h);
                        }
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// The datasets the live ObsCore table should hold.
    fn obscore_expected(&self, mode: Mode) -> BTreeSet<H> {
        match mode {
            Mode::Run => {
                static RE: OnceLock<regex::Regex> = OnceLock::new();
                let re = RE.get_or_init(|| {
                    regex::Regex::new(&format!("^(?:{RUN_PATTERN})$")).expect("pattern")
                });
                self.datasets
                    .iter()
                    .filter(|(_, d)| d.ty.in_obscore() && re.is_match(&d.run))
                    .map(|(h, _)| *h)
                    .collect()
            }
            Mode::Tagged => self
                .members(TARGET_TAG)
                .into_iter()
                .filter(|h| self.datasets[h].ty.in_obscore())
                .collect(),
            Mode::Chained => TYPES
                .iter()
                .filter(|t| t.in_obscore())
                .flat_map(|t| self.find_first(TARGET_CHAIN, *t, None).into_values())
                .map(|(h, _)| h)
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------
// The generator.

/// Draws operations from the model's state; handles are never reused.
struct Generator {
    rng: Rng,
    next_handle: H,
}

fn all_names() -> Vec<String> {
    RUNS.iter()
        .chain(TAGS.iter())
        .chain(CALIBS.iter())
        .chain(CHAINS.iter())
        .map(|s| s.to_string())
        .collect()
}

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng(seed),
            next_handle: 0,
        }
    }

    fn handle(&mut self) -> H {
        self.next_handle += 1;
        self.next_handle
    }

    fn ty(&mut self) -> Ty {
        match self.rng.below(10) {
            0..=3 => Ty::Raw,
            4..=7 => Ty::Calexp,
            _ => Ty::Bias,
        }
    }

    fn key(&mut self, ty: Ty) -> Key {
        if ty == Ty::Bias {
            Key {
                det: self.rng.range(0, BIAS_DETECTORS),
                n: 0,
            }
        } else {
            Key {
                det: self.rng.range(0, DETECTORS),
                n: self.rng.range(0, NUMBERS),
            }
        }
    }

    /// A collection name: mostly one that exists (of the given types), sometimes any.
    fn name(&mut self, m: &Model, kinds: &[CollectionType], pool: &[&str]) -> String {
        let existing: Vec<String> = m
            .colls
            .iter()
            .filter(|(_, c)| kinds.contains(&c.kind()))
            .map(|(n, _)| n.clone())
            .collect();
        if !existing.is_empty() && self.rng.chance(90) {
            self.rng.pick(&existing).clone()
        } else {
            self.rng.pick(pool).to_string()
        }
    }

    /// A RUN to write into: often one of the CHAINED table's search path, so that
    /// datasets there shadow each other.
    fn run(&mut self, m: &Model) -> String {
        let path: Vec<String> = m
            .flatten(TARGET_CHAIN)
            .into_iter()
            .filter(|c| m.kind(c) == Some(CollectionType::Run))
            .collect();
        if !path.is_empty() && self.rng.chance(40) {
            self.rng.pick(&path).clone()
        } else if self.rng.chance(30) {
            self.rng.pick(&RUNS).to_string()
        } else {
            self.name(m, &[CollectionType::Run], &RUNS)
        }
    }

    /// Existing datasets (optionally of one type), sometimes one that is gone; often
    /// ones found through the CHAINED table's chain.
    fn datasets(&mut self, m: &Model, n: usize, only: Option<Ty>) -> Vec<H> {
        let winners: BTreeSet<H> = match self.rng.below(10) {
            0..=2 => m.shadowing().into_iter().collect(),
            3..=4 => TYPES
                .iter()
                .flat_map(|t| m.find_first(TARGET_CHAIN, *t, None).into_values())
                .map(|(h, _)| h)
                .collect(),
            _ => BTreeSet::new(),
        };
        let live: Vec<H> = m
            .datasets
            .iter()
            .filter(|(h, d)| {
                only.is_none_or(|t| d.ty == t) && (winners.is_empty() || winners.contains(h))
            })
            .map(|(h, _)| *h)
            .collect();
        let live = if live.is_empty() && !winners.is_empty() {
            m.datasets
                .iter()
                .filter(|(_, d)| only.is_none_or(|t| d.ty == t))
                .map(|(h, _)| *h)
                .collect()
        } else {
            live
        };
        let mut out = Vec::new();
        for _ in 0..n {
            let h = if live.is_empty() || (self.next_handle > 0 && self.rng.chance(4)) {
                self.rng.range(1, self.next_handle as i64 + 1) as H
            } else {
                *self.rng.pick(&live)
            };
            if !out.contains(&h) {
                out.push(h);
            }
        }
        out
    }

    fn span(&mut self) -> Span {
        let begin = (!self.rng.chance(15)).then(|| self.rng.range(0, 7));
        let end = (!self.rng.chance(15)).then(|| self.rng.range(0, 7));
        match (begin, end) {
            // Mostly well-ordered; certify refuses the rest.
            (Some(b), Some(e)) if b > e && self.rng.chance(80) => Span {
                begin: Some(e),
                end: Some(b),
            },
            _ => Span { begin, end },
        }
    }

    /// One operation. Kinds that need something the state lacks (datasets, biases, a
    /// CALIBRATION collection) mostly fall back to making it.
    fn op(&mut self, m: &Model) -> Op {
        let have_datasets = !m.datasets.is_empty();
        let have_biases = m.datasets.values().any(|d| d.ty == Ty::Bias);
        let have_calibs = !m.names_of(CollectionType::Calibration).is_empty();
        match self.rng.below(100) {
            0..=13 => self.import(m),
            14..=27 => self.put(m, None),
            28..=47 => self.chain(m),
            48..=55 if have_datasets || self.rng.chance(10) => self.associate(m),
            56..=60 if have_datasets || self.rng.chance(10) => self.disassociate(m),
            61..=65 if have_biases || self.rng.chance(10) => self.certify(m),
            66..=68 if have_calibs || self.rng.chance(10) => self.decertify(m),
            66..=68 if have_biases => self.certify(m),
            69..=73 => self.remove_runs(m),
            74..=77 => self.remove_collections(m),
            78..=91 if have_datasets || self.rng.chance(10) => self.prune(m),
            48..=68 => self.put(m, Some(Ty::Bias)),
            _ => self.put(m, None),
        }
    }

    fn import(&mut self, m: &Model) -> Op {
        let run = self.run(m);
        let n = 1 + self.rng.below(4);
        let datasets = (0..n)
            .map(|_| {
                let ty = self.ty();
                (self.handle(), ty, self.key(ty))
            })
            .collect();
        let tag = self
            .rng
            .chance(25)
            .then(|| self.name(m, &[CollectionType::Tagged], &TAGS));
        Op::Import { run, datasets, tag }
    }

    fn put(&mut self, m: &Model, ty: Option<Ty>) -> Op {
        let ty = ty.unwrap_or_else(|| self.ty());
        Op::Put {
            h: self.handle(),
            ty,
            key: self.key(ty),
            run: self.run(m),
        }
    }

    fn chain(&mut self, m: &Model) -> Op {
        let parent = if self.rng.chance(55) {
            TARGET_CHAIN.to_string()
        } else {
            self.rng.pick(&CHAINS).to_string()
        };
        let kids = m.children(&parent).to_vec();
        let len = kids.len() as i64;
        let mut mode = match self.rng.below(20) {
            0..=2 => ChainMode::Redefine,
            3..=8 => ChainMode::Extend,
            9..=14 => ChainMode::Prepend,
            15..=17 => ChainMode::Remove,
            _ => ChainMode::Pop,
        };
        if kids.is_empty()
            && matches!(mode, ChainMode::Pop | ChainMode::Remove)
            && self.rng.chance(75)
        {
            mode = ChainMode::Extend;
        }
        let all = all_names();
        let pool: Vec<&str> = all.iter().map(String::as_str).collect();
        let children: Vec<String> = match mode {
            ChainMode::Pop => (0..self.rng.below(3))
                .map(|_| {
                    if self.rng.chance(85) {
                        self.rng.range(-len, len.max(1))
                    } else {
                        self.rng.range(-len - 2, len + 2)
                    }
                    .to_string()
                })
                .collect(),
            ChainMode::Remove => (0..1 + self.rng.below(2))
                .map(|_| {
                    if !kids.is_empty() && self.rng.chance(80) {
                        self.rng.pick(&kids).clone()
                    } else {
                        self.name(m, &CollectionType::all(), &pool)
                    }
                })
                .collect(),
            _ => (0..1 + self.rng.below(3))
                .map(|_| loop {
                    // RUNs mostly, chains often (so that they nest), the parent
                    // itself rarely.
                    let c = match self.rng.below(20) {
                        0..=9 => self.name(m, &[CollectionType::Run], &RUNS),
                        10..=14 => self.name(m, &[CollectionType::Chained], &CHAINS),
                        _ => self.name(m, &CollectionType::all(), &pool),
                    };
                    if c != parent || self.rng.chance(5) {
                        break c;
                    }
                })
                .collect(),
        };
        Op::Chain {
            parent,
            mode,
            children,
        }
    }

    fn associate(&mut self, m: &Model) -> Op {
        let tag = if self.rng.chance(70) {
            TARGET_TAG.to_string()
        } else {
            self.rng.pick(&TAGS).to_string()
        };
        let n = 1 + self.rng.below(4);
        Op::Associate {
            tag,
            hs: self.datasets(m, n, None),
        }
    }

    fn disassociate(&mut self, m: &Model) -> Op {
        let tag = self.name(m, &[CollectionType::Tagged], &TAGS);
        let members = m.members(&tag);
        let hs = if !members.is_empty() && self.rng.chance(70) {
            let mut hs: Vec<H> = (0..1 + self.rng.below(2))
                .map(|_| *self.rng.pick(&members))
                .collect();
            hs.dedup();
            hs
        } else {
            let n = 1 + self.rng.below(2);
            self.datasets(m, n, None)
        };
        Op::Disassociate { tag, hs }
    }

    fn certify(&mut self, m: &Model) -> Op {
        let calib = self.rng.pick(&CALIBS).to_string();
        let only = (!self.rng.chance(10)).then_some(Ty::Bias);
        let n = 1 + self.rng.below(3);
        Op::Certify {
            calib,
            hs: self.datasets(m, n, only),
            span: self.span(),
        }
    }

    fn decertify(&mut self, m: &Model) -> Op {
        let calib = self.name(m, &[CollectionType::Calibration], &CALIBS);
        let mut span = self.span();
        if let (Some(b), Some(e)) = (span.begin, span.end) {
            // Well-ordered spans only (see `known_decertify_inverted_span`).
            span = Span {
                begin: Some(b.min(e)),
                end: Some(b.max(e)),
            };
        }
        let dets = self.rng.chance(50).then(|| {
            let a = self.rng.range(0, BIAS_DETECTORS);
            let b = self.rng.range(0, BIAS_DETECTORS);
            if a == b {
                vec![a]
            } else {
                vec![a, b]
            }
        });
        Op::Decertify { calib, span, dets }
    }

    fn remove_runs(&mut self, m: &Model) -> Op {
        let shadowing = m.shadowing();
        let first = if !shadowing.is_empty() && self.rng.chance(30) {
            let h = self.rng.pick(&shadowing);
            m.datasets[h].run.clone()
        } else {
            self.run(m)
        };
        let mut runs = vec![first];
        if self.rng.chance(25) {
            let other = self.name(m, &[CollectionType::Run], &RUNS);
            if !runs.contains(&other) {
                runs.push(other);
            }
        }
        Op::RemoveRuns {
            runs,
            unlink: self.rng.chance(60),
        }
    }

    fn remove_collections(&mut self, m: &Model) -> Op {
        let kinds = [
            CollectionType::Tagged,
            CollectionType::Calibration,
            CollectionType::Chained,
        ];
        let all = all_names();
        let pool: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut names = Vec::new();
        for _ in 0..1 + usize::from(self.rng.chance(25)) {
            let mut n = if self.rng.chance(5) {
                self.rng.pick(&RUNS).to_string()
            } else {
                self.name(m, &kinds, &pool)
            };
            // The tables' own collections rarely: their removal ends a sequence in the
            // TAGGED and CHAINED modes today (see `known_*_remove_target`).
            if (n == TARGET_TAG || n == TARGET_CHAIN) && self.rng.chance(80) {
                n = self.name(m, &kinds, &pool);
            }
            if !names.contains(&n) {
                names.push(n);
            }
        }
        Op::RemoveCollections {
            names,
            unlink: self.rng.chance(60),
        }
    }

    fn prune(&mut self, m: &Model) -> Op {
        let n = 1 + self.rng.below(3);
        let hs = self.datasets(m, n, None);
        let how = match self.rng.below(10) {
            0..=3 => {
                let run = match hs.first().and_then(|h| m.datasets.get(h)) {
                    Some(d) if self.rng.chance(85) => d.run.clone(),
                    _ => self.name(m, &[CollectionType::Run], &RUNS),
                };
                PruneHow::Purge(run)
            }
            4..=5 => PruneHow::Unstore,
            _ => {
                let mut tags = vec![self.name(m, &[CollectionType::Tagged], &TAGS)];
                if self.rng.chance(20) {
                    let other = self.rng.pick(&TAGS).to_string();
                    if !tags.contains(&other) {
                        tags.push(other);
                    }
                }
                PruneHow::Disassociate(tags)
            }
        };
        Op::Prune { hs, how }
    }
}

/// The operations of one sequence, drawn by running the model forward.
fn generate(seed: u64, len: usize) -> Vec<Op> {
    let mut g = Generator::new(seed);
    let mut m = Model::initial();
    let mut ops = Vec::with_capacity(len);
    for _ in 0..len {
        let op = g.op(&m);
        m = m.predict(&op).1;
        ops.push(op);
    }
    ops
}

// ---------------------------------------------------------------------------------
// The engine side: one small function per write, calling only the plain library
// functions (or `Repo` methods where they exist).

type EngineResult<T = ()> = Result<T, String>;

fn err(e: impl fmt::Display) -> String {
    e.to_string()
}

/// The header (universe) and the dimension records and dataset types of dp02-mini.
fn base_export() -> &'static ExportFile {
    static BASE: OnceLock<ExportFile> = OnceLock::new();
    BASE.get_or_init(|| {
        let path = common::conformance_data("dp02-mini/export.yaml");
        let text = std::fs::read_to_string(&path).expect("dp02-mini export");
        let full = valet::transfers::read_export(&text, &path).expect("readable export");
        let mut types = BTreeSet::new();
        let entries = full
            .entries
            .iter()
            .filter(|(_, e)| match e {
                Entry::Dimension { .. } => true,
                Entry::DatasetType { name, .. } => types.insert(name.clone()),
                _ => false,
            })
            .cloned()
            .collect();
        ExportFile { entries, ..full }
    })
}

/// An export model of one RUN's new datasets, optionally associated with a TAGGED
/// collection, with the universe header of dp02-mini.
fn export_model(run: &str, datasets: &[(Uuid, Ty, Key)], tag: Option<&str>) -> ExportFile {
    let base = base_export();
    let mut entries = vec![Entry::Collection(CollectionEntry {
        name: run.into(),
        kind: CollectionType::Run,
        doc: None,
        children: vec![],
    })];
    if let Some(tag) = tag {
        entries.push(Entry::Collection(CollectionEntry {
            name: tag.into(),
            kind: CollectionType::Tagged,
            doc: None,
            children: vec![],
        }));
    }
    for ty in TYPES {
        let files: Vec<DatasetFile> = datasets
            .iter()
            .filter(|(_, t, _)| *t == ty)
            .map(|(id, _, k)| DatasetFile {
                ids: vec![*id],
                data_ids: vec![ty.data_id(*k)],
                path: None,
                formatter: None,
            })
            .collect();
        if !files.is_empty() {
            entries.push(Entry::Datasets {
                dataset_type: ty.name().into(),
                run: run.into(),
                files,
            });
        }
    }
    if let Some(tag) = tag {
        entries.push(Entry::Associations {
            collection: tag.into(),
            association: Association::Tagged(datasets.iter().map(|(id, _, _)| *id).collect()),
        });
    }
    ExportFile {
        version: base.version.clone(),
        universe_version: base.universe_version,
        universe_namespace: base.universe_namespace.clone(),
        entries: entries.into_iter().enumerate().collect(),
    }
}

fn do_import(
    repo: &Repo,
    run: &str,
    datasets: &[(Uuid, Ty, Key)],
    tag: Option<&str>,
) -> EngineResult {
    let model = export_model(run, datasets, tag);
    // Registry only: the datasets get no files.
    let options = ImportOptions {
        transfer: None,
        ..Default::default()
    };
    import_export(repo, &[(model, "model".into())], &options)
        .map(|_| ())
        .map_err(err)
}

fn do_put(repo: &Repo, ty: Ty, key: Key, run: &str) -> EngineResult<Uuid> {
    repo.put(b"{}", ty.name(), &ty.data_id(key), run, "json")
        .map(|r| r.id)
        .map_err(err)
}

fn do_chain(repo: &Repo, parent: &str, mode: ChainMode, children: &[String]) -> EngineResult {
    repo.registry()
        .transaction(|conn, _| collection_chain(conn, parent, mode, children, false, None))
        .map(|_| ())
        .map_err(err)
}

fn do_associate(repo: &Repo, tag: &str, ids: &[Uuid]) -> EngineResult {
    repo.registry()
        .transaction(|conn, universe| {
            if find_collection(conn, tag)?.is_none() {
                register_collection(conn, tag, CollectionType::Tagged, None)?;
            }
            associate(conn, universe, tag, ids)
        })
        .map(|_| ())
        .map_err(err)
}

fn do_disassociate(repo: &Repo, tag: &str, ids: &[Uuid]) -> EngineResult {
    repo.registry()
        .transaction(|conn, _| disassociate(conn, tag, ids))
        .map(|_| ())
        .map_err(err)
}

fn do_certify(repo: &Repo, calib: &str, ids: &[Uuid], span: Span) -> EngineResult {
    repo.registry()
        .transaction(|conn, universe| {
            if find_collection(conn, calib)?.is_none() {
                register_collection(conn, calib, CollectionType::Calibration, None)?;
            }
            certify(conn, universe, calib, ids, span.timespan())
        })
        .map(|_| ())
        .map_err(err)
}

fn do_decertify(repo: &Repo, calib: &str, span: Span, dets: Option<&[i64]>) -> EngineResult {
    let data_ids: Option<Vec<DataId>> = dets.map(|d| {
        d.iter()
            .map(|det| Ty::Bias.data_id(Key { det: *det, n: 0 }))
            .collect()
    });
    repo.registry()
        .transaction(|conn, universe| {
            decertify(
                conn,
                universe,
                calib,
                "bias",
                span.timespan(),
                data_ids.as_deref(),
            )
        })
        .map(|_| ())
        .map_err(err)
}

fn do_remove_runs(repo: &Repo, runs: &[String], unlink: bool) -> EngineResult {
    repo.registry()
        .transaction(|conn, _| remove_runs(conn, runs, unlink))
        .map_err(err)?;
    // As the CLI: once the removal is committed, the files go.
    let report = valet::datastore::empty_trash(repo).map_err(err)?;
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(format!("files not deleted: {:?}", report.failed))
    }
}

fn do_remove_collections(repo: &Repo, names: &[String], unlink: bool) -> EngineResult {
    repo.registry()
        .transaction(|conn, _| remove_collections(conn, names, unlink))
        .map_err(err)
}

fn do_prune(repo: &Repo, ids: &[Uuid], how: &PruneHow) -> EngineResult {
    let options = match how {
        PruneHow::Purge(run) => valet::prune::PruneOptions {
            purge: Some(run.clone()),
            unstore: true,
            disassociate: vec![],
        },
        PruneHow::Unstore => valet::prune::PruneOptions {
            purge: None,
            unstore: true,
            disassociate: vec![],
        },
        PruneHow::Disassociate(tags) => valet::prune::PruneOptions {
            purge: None,
            unstore: false,
            disassociate: tags.clone(),
        },
    };
    valet::prune::prune(repo, ids, &options)
        .map(|_| ())
        .map_err(err)
}

// ---------------------------------------------------------------------------------
// Modes and repositories.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Run,
    Tagged,
    Chained,
}

const MODES: [Mode; 3] = [Mode::Run, Mode::Tagged, Mode::Chained];

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Run => "RUN",
            Mode::Tagged => "TAGGED",
            Mode::Chained => "CHAINED",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        MODES.into_iter().find(|m| m.name().eq_ignore_ascii_case(s))
    }

    /// The dp02-mini ObsCore configuration, fed by this mode's collections.
    fn config(self) -> String {
        let path = common::conformance_data("dp02-mini/obscore.yaml");
        let text = std::fs::read_to_string(path).expect("obscore.yaml");
        let collections = match self {
            Mode::Run => RUN_PATTERN,
            Mode::Tagged => TARGET_TAG,
            Mode::Chained => TARGET_CHAIN,
        };
        text.replace(
            "collection_type: RUN",
            &format!("collection_type: {}", self.name()),
        )
        .replace(
            "collections: []",
            &format!("collections: [\"{collections}\"]"),
        )
    }
}

/// A repository in the model's initial state, with the live table on.
fn setup(backend: Backend, mode: Mode) -> Option<TestRepo> {
    let t = new_repo(backend)?;
    let base = (base_export().clone(), "dp02-mini".to_string());
    let options = ImportOptions {
        transfer: None,
        ..Default::default()
    };
    import_export(&t.repo, &[base], &options).expect("dimension records and dataset types");
    t.repo
        .registry()
        .transaction(|conn, _| {
            for run in INITIAL_RUNS {
                register_collection(conn, run, CollectionType::Run, None)?;
            }
            register_collection(conn, TARGET_TAG, CollectionType::Tagged, None)?;
            for (chain, kids) in INITIAL_CHAINS {
                let kids: Vec<String> = kids.iter().map(|k| k.to_string()).collect();
                collection_chain(conn, chain, ChainMode::Redefine, &kids, false, None)?;
            }
            Ok(())
        })
        .expect("initial collections");
    t.repo
        .enable_obscore(&mode.config(), None)
        .expect("enable ObsCore");
    Some(t)
}

/// Makes repositories in the initial state: one is set up, closed, and copied for
/// each sequence (its files, and on PostgreSQL its database as a template), which
/// is several times faster than setting each up afresh.
struct Factory {
    backend: Backend,
    mode: Mode,
    /// Keeps the template's directory.
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    /// The template database, on PostgreSQL.
    db_url: Option<String>,
    copies: usize,
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for e in std::fs::read_dir(from).expect("read the template") {
        let e = e.expect("template entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy a template file");
        }
    }
}

/// Run a statement on the PostgreSQL server of the tests, retrying while the
/// database it needs is still in use (a closed pool's sessions end asynchronously).
/// `fallback` is the statement for servers that reject the first's syntax (options
/// of PostgreSQL 13 and 15).
fn pg_admin(sql: &str, fallback: &str) {
    let admin = std::env::var("VALET_TEST_PG").expect("VALET_TEST_PG");
    let mut client = ::postgres::Client::connect(&admin, ::postgres::NoTls).expect("connect");
    let mut sql = sql;
    for attempt in 0.. {
        match client.batch_execute(sql) {
            Ok(()) => return,
            Err(e) if attempt < 100 && e.to_string().contains("being accessed by other users") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e)
                if sql != fallback
                    && e.code() == Some(&::postgres::error::SqlState::SYNTAX_ERROR) =>
            {
                sql = fallback;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

fn drop_database(url: &str) {
    let name = url.rsplit_once('/').map(|(_, n)| n).unwrap_or_default();
    pg_admin(
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        &format!("DROP DATABASE IF EXISTS {name}"),
    );
}

impl Factory {
    fn new(backend: Backend, mode: Mode) -> Option<Factory> {
        let TestRepo { repo, dir, db_url } = setup(backend, mode)?;
        let root = repo.root().to_path_buf();
        // Closed, so that its files are complete and its database has no sessions.
        drop(repo);
        Some(Factory {
            backend,
            mode,
            _dir: dir,
            root,
            db_url,
            copies: 0,
        })
    }

    fn make(&mut self) -> TestRepo {
        self.copies += 1;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("repo");
        copy_dir(&self.root, &root);
        let db_url = self.db_url.as_ref().map(|template| {
            let (base, name) = template.rsplit_once('/').expect("a database URL");
            let copy = format!("{name}_{}", self.copies);
            // Copying the files is much faster than WAL-logging them, for small ones.
            pg_admin(
                &format!("CREATE DATABASE {copy} TEMPLATE {name} STRATEGY FILE_COPY"),
                &format!("CREATE DATABASE {copy} TEMPLATE {name}"),
            );
            let url = format!("{base}/{copy}");
            let config = root.join("valet.yaml");
            let text = std::fs::read_to_string(&config).expect("valet.yaml");
            std::fs::write(&config, text.replace(template.as_str(), &url)).expect("valet.yaml");
            url
        });
        let repo = Repo::open(&root).expect("open the copy");
        TestRepo { repo, dir, db_url }
    }
}

impl Drop for Factory {
    fn drop(&mut self) {
        if let Some(url) = &self.db_url {
            drop_database(url);
        }
    }
}

/// Applies operations to a repository and compares it with the model.
struct Runner {
    t: Option<TestRepo>,
    mode: Mode,
    /// Engine ids of the datasets made so far, both ways.
    ids: HashMap<H, Uuid>,
    handles: HashMap<Uuid, H>,
    /// Seconds spent executing operations and in each check.
    times: BTreeMap<&'static str, f64>,
}

/// The id an import gives a handle; a handle never made (or gone) maps to an id no
/// dataset has.
fn import_id(h: H) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("valet-model/{h}").as_bytes())
}

/// Adds the time since the last lap to a named total.
struct Clock(Instant);

impl Clock {
    fn start() -> Clock {
        Clock(Instant::now())
    }

    fn lap(&mut self, totals: &mut BTreeMap<&'static str, f64>, name: &'static str) {
        *totals.entry(name).or_default() += self.0.elapsed().as_secs_f64();
        self.0 = Instant::now();
    }
}

/// One thing a check found wrong.
#[derive(Clone, Debug)]
struct Problem {
    check: &'static str,
    detail: String,
}

impl Drop for Runner {
    fn drop(&mut self) {
        // A sequence's database goes with it (soaks make thousands).
        if let Some(TestRepo { repo, db_url, .. }) = self.t.take() {
            drop(repo);
            if let Some(url) = db_url {
                drop_database(&url);
            }
        }
    }
}

impl Runner {
    fn new(factory: &mut Factory) -> Runner {
        Runner {
            t: Some(factory.make()),
            mode: factory.mode,
            ids: HashMap::new(),
            handles: HashMap::new(),
            times: BTreeMap::new(),
        }
    }

    fn repo(&self) -> &Repo {
        &self.t.as_ref().expect("a repository until dropped").repo
    }

    fn id(&self, h: H) -> Uuid {
        self.ids.get(&h).copied().unwrap_or_else(|| import_id(h))
    }

    fn ids_of(&self, hs: &[H]) -> Vec<Uuid> {
        hs.iter().map(|h| self.id(*h)).collect()
    }

    fn made(&mut self, h: H, id: Uuid) {
        self.ids.insert(h, id);
        self.handles.insert(id, h);
    }

    /// A message with the ids of known datasets replaced by their handles.
    fn translate(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (id, h) in &self.handles {
            out = out.replace(&id.to_string(), &format!("d{h}"));
        }
        out
    }

    fn show(&self, id: Uuid) -> String {
        match self.handles.get(&id) {
            Some(h) => format!("d{h}"),
            None => format!("?{id}"),
        }
    }

    /// Send one operation to the engine.
    fn execute(&mut self, op: &Op) -> EngineResult {
        let repo = self.repo().clone();
        match op {
            Op::Import { run, datasets, tag } => {
                let items: Vec<(Uuid, Ty, Key)> = datasets
                    .iter()
                    .map(|(h, ty, k)| (import_id(*h), *ty, *k))
                    .collect();
                do_import(&repo, run, &items, tag.as_deref())?;
                for (h, _, _) in datasets {
                    self.made(*h, import_id(*h));
                }
                Ok(())
            }
            Op::Put { h, ty, key, run } => {
                let id = do_put(&repo, *ty, *key, run)?;
                self.made(*h, id);
                Ok(())
            }
            Op::Chain {
                parent,
                mode,
                children,
            } => do_chain(&repo, parent, *mode, children),
            Op::Associate { tag, hs } => do_associate(&repo, tag, &self.ids_of(hs)),
            Op::Disassociate { tag, hs } => do_disassociate(&repo, tag, &self.ids_of(hs)),
            Op::Certify { calib, hs, span } => do_certify(&repo, calib, &self.ids_of(hs), *span),
            Op::Decertify { calib, span, dets } => {
                do_decertify(&repo, calib, *span, dets.as_deref())
            }
            Op::RemoveRuns { runs, unlink } => do_remove_runs(&repo, runs, *unlink),
            Op::RemoveCollections { names, unlink } => do_remove_collections(&repo, names, *unlink),
            Op::Prune { hs, how } => do_prune(&repo, &self.ids_of(hs), how),
        }
    }

    /// Every check, after one step.
    fn verify(&mut self, model: &Model, step: usize, last: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut add =
            |check: &'static str, detail: String| problems.push(Problem { check, detail });
        let mut clock = Clock::start();
        if let Err(e) = self.verify_state(model, &mut add) {
            add(
                "registry-state",
                format!("could not read the registry: {e}"),
            );
        }
        clock.lap(&mut self.times, "registry-state");
        if let Err(e) = self.verify_find_first(model, step, &mut add) {
            add("find-first", format!("query failed: {e}"));
        }
        clock.lap(&mut self.times, "find-first");
        match self.obscore_ids() {
            Ok(actual) => {
                let want = model.obscore_expected(self.mode);
                if actual != want {
                    add(
                        "obscore-rows",
                        format!(
                            "{} table holds {}, the model says {}",
                            self.mode.name(),
                            handles(&actual.iter().copied().collect::<Vec<_>>()),
                            handles(&want.iter().copied().collect::<Vec<_>>()),
                        ),
                    );
                }
            }
            Err(e) => add("obscore-rows", e),
        }
        clock.lap(&mut self.times, "obscore-rows");
        // `valet check` compares the live table with a rebuild (`check_table`) and
        // reports its findings, prefixed `ObsCore:`, with its own: one call gives both.
        // `check_table` itself is also called after the last step, in case `check`
        // ever stops including it.
        match valet::check::check(self.repo(), false, false) {
            Ok(r) => {
                let (table, other): (Vec<String>, Vec<String>) = r
                    .problems
                    .into_iter()
                    .partition(|p| p.starts_with("ObsCore:"));
                if !table.is_empty() {
                    add("obscore-check", table.join("; "));
                }
                if !other.is_empty() {
                    add("check", other.join("; "));
                }
            }
            Err(e) => add("check", format!("check failed: {e}")),
        }
        if last {
            match self.repo().check_obscore_table() {
                Ok(p) if p.is_empty() => {}
                Ok(p) => add("obscore-check", format!("check_table: {}", p.join("; "))),
                Err(e) => add("obscore-check", format!("check_table failed: {e}")),
            }
        }
        clock.lap(&mut self.times, "check");
        problems
    }

    /// The live table's rows, as handles (an unknown id fails).
    fn obscore_ids(&self) -> Result<BTreeSet<H>, String> {
        let mut conn = self.repo().registry().db.conn().map_err(err)?;
        let rows = conn
            .query("SELECT registry_dataset_id FROM obscore", &[])
            .map_err(err)?;
        let mut out = BTreeSet::new();
        for r in rows {
            let id = r[0].as_uuid().ok_or("a row without a dataset id")?;
            match self.handles.get(&id) {
                Some(h) => {
                    out.insert(*h);
                }
                None => return Err(format!("row for unknown dataset {id}")),
            }
        }
        Ok(out)
    }

    /// Collections, chain children, RUN and TAGGED memberships and validity ranges.
    fn verify_state(
        &self,
        model: &Model,
        add: &mut dyn FnMut(&'static str, String),
    ) -> Result<(), String> {
        let repo = self.repo();
        let mut conn = repo.registry().db.conn().map_err(err)?;
        let records = all_collections(&mut conn).map_err(err)?;
        let actual: BTreeMap<String, CollectionType> =
            records.iter().map(|r| (r.name.clone(), r.kind)).collect();
        let want: BTreeMap<String, CollectionType> = model
            .colls
            .iter()
            .map(|(n, c)| (n.clone(), c.kind()))
            .collect();
        if actual != want {
            add(
                "registry-state",
                format!("collections are {actual:?}, the model says {want:?}"),
            );
            return Ok(());
        }
        let names: HashMap<i64, String> = records.into_iter().map(|r| (r.id, r.name)).collect();
        for chain in model.names_of(CollectionType::Chained) {
            let kids: Vec<String> = get_chain(&mut conn, &chain)
                .map_err(err)?
                .into_iter()
                .map(|r| r.name)
                .collect();
            if kids != model.children(&chain) {
                add(
                    "registry-state",
                    format!(
                        "chain {chain} is {kids:?}, the model says {:?}",
                        model.children(&chain)
                    ),
                );
            }
        }
        let mut actual_members = BTreeSet::new();
        let mut actual_ranges = Vec::new();
        for ty in TYPES {
            let t = repo
                .resolver()
                .dataset_type(&mut conn, ty.name())
                .map_err(err)?;
            let rows = conn
                .query(
                    &format!(
                        "SELECT dataset_id, collection_id FROM {} WHERE dataset_type_id = ?",
                        t.tags_table
                    ),
                    &[Value::Int(t.id)],
                )
                .map_err(err)?;
            for r in rows {
                let id = r[0].as_uuid().unwrap_or_default();
                let c = names
                    .get(&r[1].as_i64().unwrap_or(-1))
                    .cloned()
                    .unwrap_or_default();
                actual_members.insert((c, self.show(id)));
            }
            if let Some(table) = &t.calibs_table {
                let rows = conn
                    .query(
                        &format!(
                            "SELECT dataset_id, collection_id, timespan_begin, timespan_end \
                             FROM {table} WHERE dataset_type_id = ?"
                        ),
                        &[Value::Int(t.id)],
                    )
                    .map_err(err)?;
                for r in rows {
                    let id = r[0].as_uuid().unwrap_or_default();
                    let c = names
                        .get(&r[1].as_i64().unwrap_or(-1))
                        .cloned()
                        .unwrap_or_default();
                    let (b, e) = (r[2].as_i64().unwrap_or(0), r[3].as_i64().unwrap_or(0));
                    actual_ranges.push(format!("{c} {} {}", self.show(id), show_stored(b, e)));
                }
            }
        }
        actual_ranges.sort();
        let mut want_members = BTreeSet::new();
        let mut want_ranges = Vec::new();
        for (name, c) in &model.colls {
            match c {
                Coll::Run(m) | Coll::Tagged(m) => {
                    for h in m.values() {
                        want_members.insert((name.clone(), format!("d{h}")));
                    }
                }
                Coll::Calib(ranges) => {
                    for r in ranges {
                        want_ranges.push(format!(
                            "{name} d{} {}",
                            r.h,
                            show_stored(r.begin, r.end)
                        ));
                    }
                }
                Coll::Chain(_) => {}
            }
        }
        want_ranges.sort();
        if actual_members != want_members {
            let extra: Vec<_> = actual_members.difference(&want_members).collect();
            let missing: Vec<_> = want_members.difference(&actual_members).collect();
            add(
                "registry-state",
                format!("memberships: unexpected {extra:?}, missing {missing:?}"),
            );
        }
        if actual_ranges != want_ranges {
            add(
                "registry-state",
                format!("validity ranges are {actual_ranges:?}, the model says {want_ranges:?}"),
            );
        }
        Ok(())
    }

    /// Find-first through every chain, for every type (biases at two times that
    /// change with the step).
    fn verify_find_first(
        &self,
        model: &Model,
        step: usize,
        add: &mut dyn FnMut(&'static str, String),
    ) -> Result<(), String> {
        let repo = self.repo();
        let universe = repo.registry().universe.clone();
        let mut conn = repo.registry().db.conn().map_err(err)?;
        let times = [
            day((step % 8) as i64 - 1) + DAY / 2,
            day(((step * 5 + 3) % 8) as i64 - 1) + DAY / 2,
        ];
        for chain in model.names_of(CollectionType::Chained) {
            for ty in TYPES {
                let ats: Vec<Option<i64>> = if ty.is_calibration() {
                    times.iter().map(|t| Some(*t)).collect()
                } else {
                    vec![None]
                };
                for at in ats {
                    let mut actual: BTreeMap<Key, String> = BTreeMap::new();
                    repo.resolver()
                        .query_datasets(
                            &mut conn,
                            &universe,
                            &DatasetQuery {
                                dataset_type: ty.name().into(),
                                collections: vec![chain.clone()],
                                find_first: true,
                                timespan: at.map(|t| Timespan::new(Some(t), Some(t + 1))),
                                ..Default::default()
                            },
                            &mut |found| {
                                let k = ty.key_of(&found.dataset.data_id);
                                let shown =
                                    format!("{}@{}", self.show(found.dataset.id), found.collection);
                                if let Some(old) = actual.insert(k, shown.clone()) {
                                    actual.insert(k, format!("{old} and {shown}"));
                                }
                                Ok(true)
                            },
                        )
                        .map_err(|e| format!("{} through {chain}: {e}", ty.name()))?;
                    let want: BTreeMap<Key, String> = model
                        .find_first(&chain, ty, at)
                        .into_iter()
                        .map(|(k, (h, c))| (k, format!("d{h}@{c}")))
                        .collect();
                    if actual != want {
                        let keys: BTreeSet<&Key> = actual.keys().chain(want.keys()).collect();
                        let diffs: Vec<String> = keys
                            .into_iter()
                            .filter(|k| actual.get(k) != want.get(k))
                            .map(|k| {
                                format!(
                                    "{k}: engine {}, model {}",
                                    actual.get(k).map(String::as_str).unwrap_or("none"),
                                    want.get(k).map(String::as_str).unwrap_or("none")
                                )
                            })
                            .collect();
                        let when = at
                            .map(|t| format!(" at day {:.1}", (t - T0) as f64 / DAY as f64))
                            .unwrap_or_default();
                        add(
                            "find-first",
                            format!("{} through {chain}{when}: {}", ty.name(), diffs.join("; ")),
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// Running sequences.

/// Where a sequence first went wrong.
#[derive(Clone, Debug)]
struct Failure {
    /// 1-based step.
    step: usize,
    /// The operation of that step.
    kind: &'static str,
    problems: Vec<Problem>,
}

impl Failure {
    /// What kind of failure this is: the operation and the first check that failed.
    fn signature(&self) -> String {
        format!("{} -> {}", self.kind, self.problems[0].check)
    }
}

/// Figures of a run of sequences.
#[derive(Default, Debug, Clone)]
struct Tally {
    sequences: usize,
    operations: usize,
    refused: usize,
    /// Time spent making repositories, and applying and checking operations.
    setup: f64,
    steps: f64,
    /// Per kind of operation: how many, and how many refused.
    kinds: BTreeMap<&'static str, (usize, usize)>,
    /// Seconds executing operations and in each check.
    times: BTreeMap<&'static str, f64>,
}

impl Tally {
    fn kinds(&self) -> String {
        self.kinds
            .iter()
            .map(|(k, (n, r))| format!("{k} {n}/{r}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn times(&self) -> String {
        self.times
            .iter()
            .map(|(k, t)| format!("{k} {t:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn add(&mut self, other: &Tally) {
        self.sequences += other.sequences;
        self.operations += other.operations;
        self.refused += other.refused;
        self.setup += other.setup;
        self.steps += other.steps;
        for (k, (n, r)) in &other.kinds {
            let e = self.kinds.entry(k).or_default();
            e.0 += n;
            e.1 += r;
        }
        for (k, t) in &other.times {
            *self.times.entry(k).or_default() += t;
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} sequences, {} operations ({} refused as predicted), {:.1} s ({:.1} s making repositories)",
            self.sequences,
            self.operations,
            self.refused,
            self.setup + self.steps,
            self.setup
        )
    }
}

/// Whether every problem is the live ObsCore table disagreeing with the registry
/// (which a refill repairs).
fn only_stale_table(problems: &[Problem]) -> bool {
    problems
        .iter()
        .all(|p| matches!(p.check, "obscore-rows" | "obscore-check"))
}

/// Apply `ops` one by one to a fresh repository, checking after each; the failing
/// steps. Stops at the first failure unless `keep_going`, which
/// refills a stale ObsCore table and goes on (other failures still stop it).
fn run_ops(factory: &mut Factory, ops: &[Op], tally: &mut Tally, keep_going: bool) -> Vec<Failure> {
    let started = Instant::now();
    let mut runner = Runner::new(factory);
    tally.setup += started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut model = Model::initial();
    let mut failures = Vec::new();
    tally.sequences += 1;
    for (i, op) in ops.iter().enumerate() {
        let step = i + 1;
        let (verdict, next) = model.predict(op);
        let mut clock = Clock::start();
        let outcome = runner.execute(op);
        clock.lap(&mut runner.times, "execute");
        tally.operations += 1;
        let kind = tally.kinds.entry(op.kind()).or_default();
        kind.0 += 1;
        if verdict.is_err() {
            kind.1 += 1;
        }
        let mut problems = Vec::new();
        match (&verdict, &outcome) {
            (Ok(()), Err(e)) => problems.push(Problem {
                check: "verdict",
                detail: format!("the engine refused a valid operation: {e}"),
            }),
            (Err(why), Ok(())) => problems.push(Problem {
                check: "verdict",
                detail: format!("the engine accepted an operation the model refuses ({why})"),
            }),
            (Err(_), Err(_)) => tally.refused += 1,
            (Ok(()), Ok(())) => {}
        }
        model = next;
        problems.extend(runner.verify(&model, step, step == ops.len()));
        if problems.is_empty() {
            continue;
        }
        for p in &mut problems {
            p.detail = runner.translate(&p.detail);
        }
        let stale = only_stale_table(&problems);
        failures.push(Failure {
            step,
            kind: op.kind(),
            problems,
        });
        if !(keep_going && stale) {
            break;
        }
        runner
            .repo()
            .update_obscore_table(None)
            .expect("refill the ObsCore table");
    }
    tally.steps += started.elapsed().as_secs_f64();
    for (k, t) in &runner.times {
        *tally.times.entry(k).or_default() += t;
    }
    failures
}

/// Shrink a failing operation list to a small one that fails with the same signature
/// (operation and check): drop chunks, then single operations, while the failure
/// persists. Trials refill a stale table and go on, so earlier steps that leave it
/// stale in another way may stay; their steps come back too.
fn shrink(factory: &mut Factory, ops: &[Op], failure: &Failure) -> (Vec<Op>, Failure, Vec<usize>) {
    let signature = failure.signature();
    let mut best = ops[..failure.step].to_vec();
    let mut best_failure = failure.clone();
    let mut refilled = Vec::new();
    let mut tally = Tally::default();
    let mut chunk = best.len() / 2;
    while chunk >= 1 {
        let mut start = 0;
        while start < best.len() {
            let end = (start + chunk).min(best.len());
            let mut trial: Vec<Op> = best[..start].to_vec();
            trial.extend_from_slice(&best[end..]);
            let failures = run_ops(factory, &trial, &mut tally, true);
            match failures.iter().position(|f| f.signature() == signature) {
                Some(i) => {
                    trial.truncate(failures[i].step);
                    best = trial;
                    best_failure = failures[i].clone();
                    refilled = failures[..i].iter().map(|f| f.step).collect();
                }
                None => start += chunk,
            }
        }
        chunk /= 2;
    }
    (best, best_failure, refilled)
}

fn describe(ops: &[Op]) -> String {
    ops.iter()
        .enumerate()
        .map(|(i, op)| format!("  {:>3}. {op}\n", i + 1))
        .collect()
}

/// Where a failing sequence came from, for the message.
enum Origin<'a> {
    Seed(u64),
    /// A fixed reproducer, and the earlier steps whose stale table was refilled.
    Fixed(&'a str, Vec<usize>),
}

fn report(factory: &mut Factory, origin: &Origin<'_>, ops: &[Op], f: &Failure) -> String {
    let (backend, mode) = (factory.backend, factory.mode);
    let from = match origin {
        Origin::Seed(seed) => format!("seed {seed:#x}"),
        Origin::Fixed(name, _) => format!("reproducer {name}"),
    };
    let mut s = format!(
        "model test failed: {} table on {backend:?}, {from}, step {} of {} ({})\n",
        mode.name(),
        f.step,
        ops.len(),
        f.kind
    );
    for p in &f.problems {
        s.push_str(&format!("  [{}] {}\n", p.check, p.detail));
    }
    s.push_str(&format!("operations so far:\n{}", describe(&ops[..f.step])));
    match origin {
        Origin::Seed(seed) => s.push_str(&format!(
            "replay: VALET_MODEL_SEED={seed:#x} VALET_MODEL_MODE={} VALET_MODEL_OPS={} \
             cargo test --test model replay -- --ignored --nocapture (VALET_MODEL_SHRINK=1 to shrink)\n",
            mode.name(),
            ops.len()
        )),
        Origin::Fixed(_, refilled) if !refilled.is_empty() => s.push_str(&format!(
            "(the table was refilled after step(s) {refilled:?}, which left it stale too)\n"
        )),
        Origin::Fixed(..) => {}
    }
    if matches!(origin, Origin::Seed(_)) && std::env::var_os("VALET_MODEL_SHRINK").is_some() {
        let (small, sf, refilled) = shrink(factory, ops, f);
        s.push_str(&format!(
            "shrunk to {} operation(s), failing at step {}:\n",
            small.len(),
            sf.step
        ));
        for p in &sf.problems {
            s.push_str(&format!("  [{}] {}\n", p.check, p.detail));
        }
        s.push_str(&describe(&small));
        if !refilled.is_empty() {
            s.push_str(&format!(
                "(the table was refilled after step(s) {refilled:?}, which left it stale too)\n"
            ));
        }
    }
    s
}

/// The seed of sequence `i` of a mode: fixed, so CI runs are reproducible.
fn seed_of(mode: Mode, i: usize) -> u64 {
    let base = match mode {
        Mode::Run => 0x1000,
        Mode::Tagged => 0x2000,
        Mode::Chained => 0x3000,
    };
    base + i as u64
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn env_modes() -> Vec<Mode> {
    match std::env::var("VALET_MODEL_MODE") {
        Ok(m) => vec![Mode::parse(&m).expect("VALET_MODEL_MODE is RUN, TAGGED or CHAINED")],
        Err(_) => MODES.to_vec(),
    }
}

/// Run `count` sequences of `len` operations in one mode; panic at the first failure.
fn run_mode(backend: Backend, mode: Mode, count: usize, len: usize) {
    let started = Instant::now();
    let Some(mut factory) = Factory::new(backend, mode) else {
        return;
    };
    let mut tally = Tally {
        setup: started.elapsed().as_secs_f64(),
        ..Default::default()
    };
    for i in 0..count {
        let seed = seed_of(mode, i);
        let ops = generate(seed, len);
        let failures = run_ops(&mut factory, &ops, &mut tally, false);
        if let Some(f) = failures.first() {
            panic!("{}", report(&mut factory, &Origin::Seed(seed), &ops, f));
        }
    }
    println!(
        "model: {} table on {backend:?}: {}",
        mode.name(),
        tally.summary()
    );
    if std::env::var_os("VALET_MODEL_KINDS").is_some() {
        println!("model: operations/refused by kind: {}", tally.kinds());
        println!("model: time in {}", tally.times());
    }
}

/// Sequences per mode in the normal run, on each backend, and their length: 210
/// sequences of 32 operations, about 45 s per backend in a debug build on a quiet
/// machine (a PostgreSQL sequence costs twice an SQLite one: each gets its own
/// database, and every statement is a round trip).
const SQLITE_SEQUENCES: usize = 50;
const PG_SEQUENCES: usize = 20;
const LENGTH: usize = 32;

fn sequences(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => SQLITE_SEQUENCES,
        Backend::Postgres => PG_SEQUENCES,
    }
}

fn run_table(backend: Backend) {
    run_mode(backend, Mode::Run, sequences(backend), LENGTH);
}

fn tagged_table(backend: Backend) {
    run_mode(backend, Mode::Tagged, sequences(backend), LENGTH);
}

fn chained_table(backend: Backend) {
    run_mode(backend, Mode::Chained, sequences(backend), LENGTH);
}

on_both_backends!(run_table, tagged_table, chained_table);

/// Many sequences (`VALET_MODEL_SOAK`, default 5000, split over the modes of
/// `VALET_MODEL_MODE` (default all) and the backends available). A stale ObsCore
/// table is refilled and the sequence goes on, so every operation that leaves the
/// table stale is seen; each kind of failure is listed once with its first seed and
/// step (shrunk with `VALET_MODEL_SHRINK=1`). `VALET_MODEL_SEED_BASE` moves the seeds.
#[test]
#[ignore]
fn soak() {
    let total = env_number("VALET_MODEL_SOAK").unwrap_or(5000) as usize;
    let len = env_number("VALET_MODEL_OPS").unwrap_or(LENGTH as u64) as usize;
    let modes = env_modes();
    let backends: Vec<Backend> = if std::env::var_os("VALET_TEST_PG").is_some() {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        vec![Backend::Sqlite]
    };
    let per = total.div_ceil(modes.len() * backends.len());
    // Seeds apart from the normal run's; `VALET_MODEL_SEED_BASE` draws others.
    let base = env_number("VALET_MODEL_SEED_BASE").unwrap_or(0x5_0000_0000);
    // (mode and backend, signature) -> (mode, backend, first seed, its failure and
    // operations, count)
    type Seen = (Mode, Backend, u64, Failure, Vec<Op>, usize);
    let mut seen: BTreeMap<(String, String), Seen> = BTreeMap::new();
    let mut failed = 0;
    let mut all = Tally::default();
    for backend in &backends {
        for mode in &modes {
            let mut tally = Tally::default();
            let mut factory = Factory::new(*backend, *mode).expect("the backend");
            for i in 0..per {
                let seed = base + seed_of(*mode, i);
                let ops = generate(seed, len);
                let failures = run_ops(&mut factory, &ops, &mut tally, true);
                failed += usize::from(!failures.is_empty());
                for f in failures {
                    let key = (
                        format!("{} table on {backend:?}", mode.name()),
                        f.signature(),
                    );
                    seen.entry(key)
                        .or_insert_with(|| (*mode, *backend, seed, f.clone(), ops.clone(), 0))
                        .5 += 1;
                }
            }
            println!(
                "soak: {} table on {backend:?}: {}",
                mode.name(),
                tally.summary()
            );
            println!("soak: operations/refused by kind: {}", tally.kinds());
            println!("soak: time in {}", tally.times());
            all.add(&tally);
        }
    }
    println!("soak: in all: {}", all.summary());
    for ((label, signature), (mode, backend, seed, f, ops, n)) in &seen {
        println!(
            "soak failure: {label}: {signature}: {n} time(s), first seed {seed:#x} step {}",
            f.step
        );
        if std::env::var_os("VALET_MODEL_SHRINK").is_some() {
            let mut factory = Factory::new(*backend, *mode).expect("the backend");
            let (small, sf, refilled) = shrink(&mut factory, ops, f);
            println!("  shrunk to {} operation(s):", small.len());
            for p in &sf.problems {
                println!("    [{}] {}", p.check, p.detail);
            }
            print!("{}", describe(&small));
            if !refilled.is_empty() {
                println!("  (the table was refilled after step(s) {refilled:?})");
            }
        }
    }
    assert_eq!(
        failed, 0,
        "{failed} sequence(s) failed; replay one seed to see it"
    );
}

/// One sequence again: `VALET_MODEL_SEED` (required), `VALET_MODEL_MODE` (default
/// every mode), `VALET_MODEL_OPS` (default the normal length), on SQLite and, when
/// available, PostgreSQL.
#[test]
#[ignore]
fn replay() {
    let Some(seed) = env_number("VALET_MODEL_SEED") else {
        eprintln!("set VALET_MODEL_SEED to replay a sequence");
        return;
    };
    let len = env_number("VALET_MODEL_OPS").unwrap_or(LENGTH as u64) as usize;
    let ops = generate(seed, len);
    println!("seed {seed:#x}:\n{}", describe(&ops));
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for mode in env_modes() {
            let Some(mut factory) = Factory::new(backend, mode) else {
                continue;
            };
            let failures = run_ops(&mut factory, &ops, &mut Tally::default(), false);
            if let Some(f) = failures.first() {
                panic!("{}", report(&mut factory, &Origin::Seed(seed), &ops, f));
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Minimal reproducers of the failures the sequences find today, one per kind. Each
// runs its steps through the same checks; earlier steps that leave the table stale
// (where no other way to reach the state exists) are followed by a refill.

/// Run a reproducer: every check must pass after its last step.
fn known(backend: Backend, mode: Mode, name: &str, ops: Vec<Op>) {
    let Some(mut factory) = Factory::new(backend, mode) else {
        return;
    };
    let failures = run_ops(&mut factory, &ops, &mut Tally::default(), true);
    let refilled: Vec<usize> = failures
        .iter()
        .filter(|f| f.step < ops.len() && only_stale_table(&f.problems))
        .map(|f| f.step)
        .collect();
    if let Some(f) = failures
        .iter()
        .find(|f| f.step == ops.len() || !only_stale_table(&f.problems))
    {
        panic!(
            "{}",
            report(&mut factory, &Origin::Fixed(name, refilled), &ops, f)
        );
    }
}

const RAW: Key = Key { det: 0, n: 0 };

fn put(h: H, ty: Ty, run: &str) -> Op {
    Op::Put {
        h,
        ty,
        key: RAW,
        run: run.into(),
    }
}

/// An import of no datasets: registers an empty RUN.
fn empty_run(run: &str) -> Op {
    Op::Import {
        run: run.into(),
        datasets: vec![],
        tag: None,
    }
}

fn extend(parent: &str, children: &[&str]) -> Op {
    Op::Chain {
        parent: parent.into(),
        mode: ChainMode::Extend,
        children: children.iter().map(|c| c.to_string()).collect(),
    }
}

fn import_tagged(h: H, ty: Ty, run: &str, tag: &str) -> Op {
    Op::Import {
        run: run.into(),
        datasets: vec![(h, ty, RAW)],
        tag: Some(tag.into()),
    }
}

// The CHAINED reproducers start from the initial chains: `chain/top` searches
// `obs/r0`, then `chain/mid` = [`tag/a`, `scratch/r0`].

fn associate_op(h: H) -> Op {
    Op::Associate {
        tag: TARGET_TAG.into(),
        hs: vec![h],
    }
}

/// Two calexps of one data ID, the first in `obs/r0` (found first), the second in
/// `scratch/r0` (hidden by it).
fn shadowed_pair() -> Vec<Op> {
    vec![
        put(1, Ty::Calexp, "obs/r0"),
        put(2, Ty::Calexp, "scratch/r0"),
    ]
}

/// A chain edit that brings datasets into the chain's search path.
fn known_chained_chain_edit(backend: Backend) {
    known(
        backend,
        Mode::Chained,
        "known_chained_chain_edit",
        vec![
            put(1, Ty::Calexp, "obs/r1"),
            extend(TARGET_CHAIN, &["obs/r1"]),
        ],
    );
}

/// Associating with a TAGGED collection of the chain, ahead of the RUN that held
/// the data ID's dataset.
fn known_chained_associate(backend: Backend) {
    known(
        backend,
        Mode::Chained,
        "known_chained_associate",
        vec![
            put(1, Ty::Calexp, "scratch/r0"),
            put(2, Ty::Calexp, "obs/r1"),
            associate_op(2),
        ],
    );
}

/// An import that associates its datasets with a TAGGED collection of the chain.
fn known_chained_import_tagged(backend: Backend) {
    known(
        backend,
        Mode::Chained,
        "known_chained_import_tagged",
        vec![import_tagged(1, Ty::Calexp, "obs/r1", TARGET_TAG)],
    );
}

/// The dataset a TAGGED collection of the chain made the winner (after a refill),
/// then `last`.
fn tagged_winner_then(last: Op) -> Vec<Op> {
    vec![
        put(1, Ty::Calexp, "scratch/r0"),
        put(2, Ty::Calexp, "obs/r1"),
        associate_op(2),
        last,
    ]
}

/// Disassociating the dataset a TAGGED collection of the chain made the winner.
fn known_chained_disassociate(backend: Backend) {
    known(
        backend,
        Mode::Chained,
        "known_chained_disassociate",
        tagged_winner_then(Op::Disassociate {
            tag: TARGET_TAG.into(),
            hs: vec![2],
        }),
    );
}

/// The same through prune (which keeps a TAGGED table current, not a CHAINED one).
fn known_chained_prune_disassociate(backend: Backend) {
    known(
        backend,
        Mode::Chained,
        "known_chained_prune_disassociate",
        tagged_winner_then(Op::Prune {
            hs: vec![2],
            how: PruneHow::Disassociate(vec![TARGET_TAG.into()]),
        }),
    );
}

/// Removing the RUN of the winner: the dataset it hid must come in.
fn known_chained_remove_runs(backend: Backend) {
    let mut ops = shadowed_pair();
    ops.push(Op::RemoveRuns {
        runs: vec!["obs/r0".into()],
        unlink: true,
    });
    known(backend, Mode::Chained, "known_chained_remove_runs", ops);
}

/// Purging the winner: the dataset it hid must come in.
fn known_chained_prune_purge(backend: Backend) {
    let mut ops = shadowed_pair();
    ops.push(Op::Prune {
        hs: vec![1],
        how: PruneHow::Purge("obs/r0".into()),
    });
    known(backend, Mode::Chained, "known_chained_prune_purge", ops);
}

/// Removing the nested chain (and with it the winner's RUN from the path): the
/// dataset of a RUN after it must come in.
fn known_chained_remove_collections(backend: Backend) {
    known(
        backend,
        Mode::Chained,
        "known_chained_remove_collections",
        vec![
            empty_run("obs/r1"),
            extend(TARGET_CHAIN, &["obs/r1"]),
            put(1, Ty::Calexp, "scratch/r0"),
            put(2, Ty::Calexp, "obs/r1"),
            Op::RemoveCollections {
                names: vec!["chain/mid".into()],
                unlink: true,
            },
        ],
    );
}

/// Removing the CHAINED table's own chain: the table should be empty and the checks
/// should say so, not fail.
fn known_chained_remove_target(backend: Backend) {
    known(
        backend,
        Mode::Chained,
        "known_chained_remove_target",
        vec![Op::RemoveCollections {
            names: vec![TARGET_CHAIN.into()],
            unlink: true,
        }],
    );
}

/// Associating with the TAGGED table's collection.
fn known_tagged_associate(backend: Backend) {
    known(
        backend,
        Mode::Tagged,
        "known_tagged_associate",
        vec![
            put(1, Ty::Raw, "obs/r0"),
            Op::Associate {
                tag: TARGET_TAG.into(),
                hs: vec![1],
            },
        ],
    );
}

/// Disassociating from the TAGGED table's collection.
fn known_tagged_disassociate(backend: Backend) {
    known(
        backend,
        Mode::Tagged,
        "known_tagged_disassociate",
        vec![
            import_tagged(1, Ty::Raw, "obs/r0", TARGET_TAG),
            Op::Disassociate {
                tag: TARGET_TAG.into(),
                hs: vec![1],
            },
        ],
    );
}

/// Removing the TAGGED table's collection: its rows should go, and the checks should
/// say the table is right, not fail.
fn known_tagged_remove_target(backend: Backend) {
    known(
        backend,
        Mode::Tagged,
        "known_tagged_remove_target",
        vec![
            import_tagged(1, Ty::Raw, "obs/r0", TARGET_TAG),
            Op::RemoveCollections {
                names: vec![TARGET_TAG.into()],
                unlink: true,
            },
        ],
    );
}

fn certified_bias() -> Vec<Op> {
    vec![
        put(1, Ty::Bias, "obs/r0"),
        Op::Certify {
            calib: "calib/a".into(),
            hs: vec![1],
            span: Span {
                begin: Some(0),
                end: Some(10),
            },
        },
    ]
}

/// Decertify over an inverted range (begin after end). Certify refuses an empty
/// range; decertify cuts the range into two overlapping pieces instead (SQLite), or
/// fails on the exclusion constraint (PostgreSQL).
fn known_decertify_inverted_span(backend: Backend) {
    let mut ops = certified_bias();
    ops.push(Op::Decertify {
        calib: "calib/a".into(),
        span: Span {
            begin: Some(6),
            end: Some(4),
        },
        dets: Some(vec![0]),
    });
    known(backend, Mode::Run, "known_decertify_inverted_span", ops);
}

/// Decertify with the same data ID twice: the range is cut once but its pieces are
/// inserted twice (SQLite: duplicate ranges; PostgreSQL: an exclusion-constraint
/// error).
fn known_decertify_repeated_data_id(backend: Backend) {
    let mut ops = certified_bias();
    ops.push(Op::Decertify {
        calib: "calib/a".into(),
        span: Span {
            begin: Some(2),
            end: Some(3),
        },
        dets: Some(vec![0, 0]),
    });
    known(backend, Mode::Run, "known_decertify_repeated_data_id", ops);
}

mod known {
    use super::*;
    use crate::on_both_backends;
    on_both_backends!(
        known_chained_chain_edit,
        known_chained_associate,
        known_chained_import_tagged,
        known_chained_disassociate,
        known_chained_prune_disassociate,
        known_chained_remove_runs,
        known_chained_prune_purge,
        known_chained_remove_collections,
        known_chained_remove_target,
        known_tagged_associate,
        known_tagged_disassociate,
        known_tagged_remove_target,
        known_decertify_inverted_span,
        known_decertify_repeated_data_id,
    );
}
