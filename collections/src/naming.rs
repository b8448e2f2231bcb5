//! The observatory's collection naming conventions: build conventional names, classify
//! an existing name, and lint a repository for collections that break them.

use std::sync::OnceLock;

use regex::Regex;
use valet_registry::collections::{all_collections, validate_collection_name};
use valet_registry::{CollectionRecord, CollectionType, Conn, Result};

use crate::chains::children_of;

/// Which conventional pattern a name follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// `<instrument>/defaults`
    Defaults,
    /// `<instrument>/raw`
    RawPointer,
    /// `<instrument>/raw/all`
    RawAll,
    /// `<instrument>/raw/<ticket>`
    RawTicket,
    /// `<instrument>/calib`
    CalibPointer,
    /// `<instrument>/calib/<ticket>`
    CalibTicket,
    /// `<instrument>/calib/<ticket>/curated/<calibDate>`
    CalibCurated,
    /// `<instrument>/calib/<ticket>/…`
    CalibProduction,
    /// `[<instrument>/]runs/<target>/<release>/<ticket>`
    Processing,
    /// `[<instrument>/]runs/<target>/<release>/<ticket>/…`
    ProcessingPrivate,
    /// `refcats`
    Refcats,
    /// `refcats/<ticket>`
    RefcatTicket,
    /// `skymaps`
    Skymaps,
    /// `pretrained_models/<model>`
    PretrainedModel,
    /// `injection/defaults`
    InjectionDefaults,
    /// `injection/catalogs`
    InjectionCatalogs,
    /// `injection/catalogs/<ticket>`
    InjectionCatalogTicket,
    /// `<instrument>/masks/<release>`
    Masks,
    /// `u/<user>/…`
    Personal,
}

impl Pattern {
    /// The collection type the convention expects, if it fixes one.
    pub fn expected_type(self) -> Option<CollectionType> {
        use CollectionType::*;
        use Pattern::*;
        match self {
            Defaults | RawPointer | CalibPointer | Processing | Refcats | InjectionDefaults
            | InjectionCatalogs => Some(Chained),
            RawAll
            | CalibCurated
            | RefcatTicket
            | Skymaps
            | PretrainedModel
            | InjectionCatalogTicket
            | Masks => Some(Run),
            RawTicket => Some(Tagged),
            CalibTicket => Some(Calibration),
            CalibProduction | ProcessingPrivate | Personal => None,
        }
    }

    /// The pattern as the conventions write it.
    pub fn template(self) -> &'static str {
        use Pattern::*;
        match self {
            Defaults => "<instrument>/defaults",
            RawPointer => "<instrument>/raw",
            RawAll => "<instrument>/raw/all",
            RawTicket => "<instrument>/raw/<ticket>",
            CalibPointer => "<instrument>/calib",
            CalibTicket => "<instrument>/calib/<ticket>",
            CalibCurated => "<instrument>/calib/<ticket>/curated/<calibDate>",
            CalibProduction => "<instrument>/calib/<ticket>/*",
            Processing => "[<instrument>/]runs/<target>/<release>/<ticket>",
            ProcessingPrivate => "[<instrument>/]runs/<target>/<release>/<ticket>/*",
            Refcats => "refcats",
            RefcatTicket => "refcats/<ticket>",
            Skymaps => "skymaps",
            PretrainedModel => "pretrained_models/<model>",
            InjectionDefaults => "injection/defaults",
            InjectionCatalogs => "injection/catalogs",
            InjectionCatalogTicket => "injection/catalogs/<ticket>",
            Masks => "<instrument>/masks/<release>",
            Personal => "u/<user>/*",
        }
    }
}

/// What a name says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The convention it follows.
    pub pattern: Pattern,
    /// The instrument (or DC2-style `<X>.<Y>[ip]` tag) it belongs to, if any.
    pub instrument: Option<String>,
    /// The user, for personal collections.
    pub user: Option<String>,
    /// The ticket, where the pattern has one.
    pub ticket: Option<String>,
}

impl Classification {
    /// True for `u/<user>/…` collections.
    pub fn is_personal(&self) -> bool {
        self.pattern == Pattern::Personal
    }
}

const TICKET: &str = r"[A-Z][A-Z0-9]*-[0-9]+";
const INSTRUMENT: &str = r"[A-Za-z0-9][A-Za-z0-9_.+-]*";

fn rules() -> &'static [(Pattern, Regex)] {
    static RULES: OnceLock<Vec<(Pattern, Regex)>> = OnceLock::new();
    RULES.get_or_init(|| {
        let r = |p: &str| {
            Regex::new(&format!(
                "^{}$",
                p.replace("TICKET", TICKET).replace("INSTR", INSTRUMENT)
            ))
            .expect("valid convention regex")
        };
        use Pattern::*;
        vec![
            (
                Personal,
                r(r"u/(?P<user>[^/]+)(?:/(?P<ticket>TICKET))?(?:/.*)?"),
            ),
            (Refcats, r("refcats")),
            (RefcatTicket, r(r"refcats/(?P<ticket>TICKET)")),
            (Skymaps, r("skymaps")),
            (PretrainedModel, r(r"pretrained_models/[^/]+")),
            (InjectionDefaults, r("injection/defaults")),
            (InjectionCatalogs, r("injection/catalogs")),
            (
                InjectionCatalogTicket,
                r(r"injection/catalogs/(?P<ticket>TICKET)"),
            ),
            (
                Processing,
                r(r"(?:(?P<instrument>INSTR)/)?runs/[^/]+/[^/]+/(?P<ticket>TICKET)"),
            ),
            (
                ProcessingPrivate,
                r(r"(?:(?P<instrument>INSTR)/)?runs/[^/]+/[^/]+/(?P<ticket>TICKET)/.+"),
            ),
            (RawAll, r(r"(?P<instrument>INSTR)/raw/all")),
            (
                RawTicket,
                r(r"(?P<instrument>INSTR)/raw/(?P<ticket>TICKET)"),
            ),
            (RawPointer, r(r"(?P<instrument>INSTR)/raw")),
            (
                CalibCurated,
                r(r"(?P<instrument>INSTR)/calib/(?P<ticket>TICKET)/curated/[^/]+"),
            ),
            (
                CalibProduction,
                r(r"(?P<instrument>INSTR)/calib/(?P<ticket>TICKET)/.+"),
            ),
            (
                CalibTicket,
                r(r"(?P<instrument>INSTR)/calib/(?P<ticket>TICKET)"),
            ),
            (CalibPointer, r(r"(?P<instrument>INSTR)/calib")),
            (Defaults, r(r"(?P<instrument>INSTR)/defaults")),
            (Masks, r(r"(?P<instrument>INSTR)/masks/[^/]+")),
        ]
    })
}

/// Classify a collection name, or `None` if it follows no convention.
pub fn classify(name: &str) -> Option<Classification> {
    for (pattern, re) in rules() {
        if let Some(c) = re.captures(name) {
            let get = |k: &str| c.name(k).map(|m| m.as_str().to_owned());
            return Some(Classification {
                pattern: *pattern,
                instrument: get("instrument"),
                user: get("user"),
                ticket: get("ticket"),
            });
        }
    }
    None
}

/// Builders for conventional names.
pub mod names {
    /// `<instrument>/raw/all`
    pub fn raw_all(instrument: &str) -> String {
        format!("{instrument}/raw/all")
    }
    /// `<instrument>/raw/<ticket>`
    pub fn raw_ticket(instrument: &str, ticket: &str) -> String {
        format!("{instrument}/raw/{ticket}")
    }
    /// `<instrument>/raw`
    pub fn raw(instrument: &str) -> String {
        format!("{instrument}/raw")
    }
    /// `<instrument>/calib`
    pub fn calib(instrument: &str) -> String {
        format!("{instrument}/calib")
    }
    /// `<instrument>/calib/<ticket>`
    pub fn calib_ticket(instrument: &str, ticket: &str) -> String {
        format!("{instrument}/calib/{ticket}")
    }
    /// `<instrument>/calib/<ticket>/curated/<calibDate>`
    pub fn calib_curated(instrument: &str, ticket: &str, calib_date: &str) -> String {
        format!("{instrument}/calib/{ticket}/curated/{calib_date}")
    }
    /// `<instrument>/defaults`
    pub fn defaults(instrument: &str) -> String {
        format!("{instrument}/defaults")
    }
    /// `[<instrument>/]runs/<target>/<release>/<ticket>`
    pub fn processing(
        instrument: Option<&str>,
        target: &str,
        release: &str,
        ticket: &str,
    ) -> String {
        match instrument {
            Some(i) => format!("{i}/runs/{target}/{release}/{ticket}"),
            None => format!("runs/{target}/{release}/{ticket}"),
        }
    }
    /// `u/<user>/<ticket>`
    pub fn personal(user: &str, ticket: &str) -> String {
        format!("u/{user}/{ticket}")
    }
    /// `refcats`
    pub fn refcats() -> String {
        "refcats".into()
    }
    /// `refcats/<ticket>`
    pub fn refcat(ticket: &str) -> String {
        format!("refcats/{ticket}")
    }
    /// `skymaps`
    pub fn skymaps() -> String {
        "skymaps".into()
    }
    /// `pretrained_models/<model>`
    pub fn pretrained_model(model: &str) -> String {
        format!("pretrained_models/{model}")
    }
    /// `injection/defaults`
    pub fn injection_defaults() -> String {
        "injection/defaults".into()
    }
    /// `injection/catalogs`
    pub fn injection_catalogs() -> String {
        "injection/catalogs".into()
    }
    /// `injection/catalogs/<ticket>`
    pub fn injection_catalog(ticket: &str) -> String {
        format!("injection/catalogs/{ticket}")
    }
    /// `<instrument>/masks/<release>`
    pub fn masks(instrument: &str, release: &str) -> String {
        format!("{instrument}/masks/{release}")
    }
}

/// How serious a lint finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; not counted as a failure.
    Note,
    /// Breaks a convention.
    Warning,
    /// Breaks a rule the conventions state as a must.
    Error,
}

/// One problem found by the lint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The collection.
    pub collection: String,
    /// How serious.
    pub severity: Severity,
    /// Short rule name.
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Check every collection against the conventions.
pub fn lint(conn: &mut Conn) -> Result<Vec<Finding>> {
    let all = all_collections(conn)?;
    let mut out = Vec::new();
    for c in &all {
        lint_one(conn, c, &mut out)?;
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.collection.cmp(&b.collection))
    });
    Ok(out)
}

fn lint_one(conn: &mut Conn, c: &CollectionRecord, out: &mut Vec<Finding>) -> Result<()> {
    // Names registered before a rule was enforced (an invisible character, say).
    if let Err(e) = validate_collection_name(&c.name) {
        out.push(Finding {
            collection: c.name.clone(),
            severity: Severity::Error,
            rule: "invalid-name",
            message: e.to_string(),
        });
    }
    let class = classify(&c.name);
    let personal = class.as_ref().is_some_and(Classification::is_personal);
    if c.kind == CollectionType::Chained && !personal {
        for child in children_of(conn, c.id)? {
            if classify(&child.name).is_some_and(|k| k.is_personal()) {
                out.push(Finding {
                    collection: c.name.clone(),
                    severity: Severity::Error,
                    rule: "shared-lists-personal",
                    message: format!(
                        "shared chain lists personal collection {:?}; shared collections must not reference u/… collections",
                        child.name
                    ),
                });
            }
        }
    }
    match class {
        None => out.push(Finding {
            collection: c.name.clone(),
            severity: Severity::Warning,
            rule: "unconventional-name",
            message: "name follows none of the repository conventions".into(),
        }),
        Some(k) => {
            if let Some(expected) = k.pattern.expected_type() {
                if expected != c.kind {
                    out.push(Finding {
                        collection: c.name.clone(),
                        severity: Severity::Warning,
                        rule: "wrong-type",
                        message: format!(
                            "named like {} ({expected}) but is {}",
                            k.pattern.template(),
                            c.kind
                        ),
                    });
                }
            }
            if k.is_personal() && k.ticket.is_none() {
                out.push(Finding {
                    collection: c.name.clone(),
                    severity: Severity::Note,
                    rule: "personal-without-ticket",
                    message: "personal collections are encouraged to be u/<user>/<ticket>/…".into(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_conventions() {
        let k = classify("HSC/raw/all").unwrap();
        assert_eq!(k.pattern, Pattern::RawAll);
        assert_eq!(k.instrument.as_deref(), Some("HSC"));
        assert_eq!(
            classify("LSSTCam-imSim/raw/DM-12345").unwrap().pattern,
            Pattern::RawTicket
        );
        assert_eq!(
            classify("LSSTCam-imSim/calib/DM-30694").unwrap().pattern,
            Pattern::CalibTicket
        );
        assert_eq!(
            classify("LSSTCam-imSim/calib/DM-30694/20210601")
                .unwrap()
                .pattern,
            Pattern::CalibProduction
        );
        assert_eq!(
            classify("HSC/calib/DM-1/curated/20200101T000000Z")
                .unwrap()
                .pattern,
            Pattern::CalibCurated
        );
        let k = classify("2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905").unwrap();
        assert_eq!(k.pattern, Pattern::Processing);
        assert_eq!(k.instrument.as_deref(), Some("2.2i"));
        assert_eq!(k.ticket.as_deref(), Some("PREOPS-905"));
        assert_eq!(
            classify("2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T000000Z")
                .unwrap()
                .pattern,
            Pattern::ProcessingPrivate
        );
        assert_eq!(
            classify("runs/RC2/w_2024_10/DM-12345").unwrap().instrument,
            None
        );
        let k = classify("u/someone/DM-99999/20220105T000000Z").unwrap();
        assert!(k.is_personal());
        assert_eq!(k.user.as_deref(), Some("someone"));
        assert_eq!(k.ticket.as_deref(), Some("DM-99999"));
        assert_eq!(
            classify("refcats/DM-1").unwrap().pattern,
            Pattern::RefcatTicket
        );
        assert_eq!(
            classify("pretrained_models/net1").unwrap().pattern,
            Pattern::PretrainedModel
        );
        assert_eq!(classify("HSC/masks/S18A").unwrap().pattern, Pattern::Masks);
        assert_eq!(
            classify("injection/catalogs/DM-5").unwrap().pattern,
            Pattern::InjectionCatalogTicket
        );
        assert!(classify("random_stuff").is_none());
    }

    #[test]
    fn builders_round_trip() {
        for (name, p) in [
            (names::raw_all("HSC"), Pattern::RawAll),
            (names::raw("HSC"), Pattern::RawPointer),
            (names::raw_ticket("HSC", "DM-1"), Pattern::RawTicket),
            (names::calib("HSC"), Pattern::CalibPointer),
            (names::calib_ticket("HSC", "DM-1"), Pattern::CalibTicket),
            (
                names::calib_curated("HSC", "DM-1", "19700101T000000Z"),
                Pattern::CalibCurated,
            ),
            (names::defaults("HSC"), Pattern::Defaults),
            (
                names::processing(Some("HSC"), "RC2", "w_2024_10", "DM-2"),
                Pattern::Processing,
            ),
            (names::personal("me", "DM-3"), Pattern::Personal),
            (names::refcats(), Pattern::Refcats),
            (names::refcat("DM-4"), Pattern::RefcatTicket),
            (names::skymaps(), Pattern::Skymaps),
            (names::pretrained_model("m"), Pattern::PretrainedModel),
            (names::injection_defaults(), Pattern::InjectionDefaults),
            (names::injection_catalogs(), Pattern::InjectionCatalogs),
            (
                names::injection_catalog("DM-5"),
                Pattern::InjectionCatalogTicket,
            ),
            (names::masks("HSC", "S18A"), Pattern::Masks),
        ] {
            assert_eq!(classify(&name).map(|k| k.pattern), Some(p), "{name}");
        }
    }
}
