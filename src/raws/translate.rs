//! Header translation: an instrument definition's translator rules (see
//! [`valet_config::instrument::Rule`]) turn a raw's header into the observation's
//! properties, as `astro_metadata_translator`'s `ObservationInfo` defines them.

use std::collections::BTreeMap;

use valet_config::instrument::{Rule, When};
use valet_config::InstrumentDefinition;
use valet_fits::{Hdu, Header, Value as Fits};

use super::astro::{
    angle_degrees, civil_from_days, days_from_civil, fk5_j2000_to_icrs, sexagesimal, utc_to_tai,
    DAY_NS, NS,
};

/// What a raw's header says about its observation: the `ObservationInfo` properties
/// exposure records need. Angles are degrees (ICRS for the tracking position), times
/// TAI nanoseconds, durations seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationInfo {
    /// The instrument.
    pub instrument: String,
    /// The detector's id.
    pub detector: i64,
    /// The detector's name in its group (`name_in_raft`).
    pub detector_name: String,
    /// The detector's unique name (`full_name`).
    pub detector_unique_name: String,
    /// The physical filter.
    pub physical_filter: String,
    /// The exposure id.
    pub exposure_id: i64,
    /// The observation id (the exposure's `obs_id`).
    pub observation_id: String,
    /// Start of the exposure.
    pub datetime_begin: i64,
    /// End of the exposure.
    pub datetime_end: i64,
    /// Exposure time.
    pub exposure_time: f64,
    /// Dark time.
    pub dark_time: Option<f64>,
    /// Observation type (`science`, `bias`, …).
    pub observation_type: Option<String>,
    /// Why it was taken.
    pub observation_reason: Option<String>,
    /// The science program.
    pub science_program: Option<String>,
    /// The object observed.
    pub object: Option<String>,
    /// Tracking right ascension (ICRS).
    pub tracking_ra: Option<f64>,
    /// Tracking declination (ICRS).
    pub tracking_dec: Option<f64>,
    /// Altitude at the start.
    pub altitude: Option<f64>,
    /// Azimuth at the start.
    pub azimuth: Option<f64>,
    /// Zenith angle at the start (90° − altitude).
    pub zenith_angle: Option<f64>,
    /// Boresight rotation angle.
    pub boresight_rotation_angle: Option<f64>,
    /// What the rotation angle is measured against (`sky`, …).
    pub boresight_rotation_coord: Option<String>,
    /// The observing day, YYYYMMDD.
    pub observing_day: i64,
    /// The observation counter (the exposure's `seq_num`).
    pub observation_counter: Option<i64>,
    /// The exposure group.
    pub group: String,
    /// Whether the detector sees the sky, when known.
    pub can_see_sky: Option<bool>,
    /// Whether any content was simulated.
    pub has_simulated_content: bool,
}

/// A property's value while a rule works on it.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Text(String),
    Int(i64),
    Num(f64),
    Bool(bool),
}

impl V {
    fn from_fits(v: &Fits) -> Option<V> {
        Some(match v {
            Fits::Str(s) => V::Text(s.trim().to_owned()),
            Fits::Int(i) => V::Int(*i),
            Fits::Float(x) => V::Num(*x),
            Fits::Bool(b) => V::Bool(*b),
            Fits::Complex(c) => V::Text(c.clone()),
            Fits::Undefined => return None,
        })
    }

    fn from_yaml(v: &serde_yaml_ng::Value) -> Option<V> {
        use serde_yaml_ng::Value as Y;
        Some(match v {
            Y::String(s) => V::Text(s.clone()),
            Y::Bool(b) => V::Bool(*b),
            Y::Number(n) => match n.as_i64() {
                Some(i) => V::Int(i),
                None => V::Num(n.as_f64()?),
            },
            _ => return None,
        })
    }

    fn text(&self) -> String {
        match self {
            V::Text(s) => s.clone(),
            V::Int(i) => i.to_string(),
            V::Num(x) => x.to_string(),
            V::Bool(b) => b.to_string(),
        }
    }

    fn number(&self, unit: Option<&str>) -> Result<f64, String> {
        let x = match self {
            V::Int(i) => *i as f64,
            V::Num(x) => *x,
            V::Text(s) => sexagesimal(s)?,
            V::Bool(_) => return Err(format!("{} is not a number", self.text())),
        };
        match unit {
            Some(u) => angle_degrees(x, u),
            None => Ok(x),
        }
    }
}

/// Whether a `when` condition holds for a header.
fn holds(w: &When, h: &Header) -> bool {
    let Some(v) = h.get(&w.key).and_then(V::from_fits) else {
        return false;
    };
    let text = v.text().to_lowercase();
    if !w.contains.is_empty() && !w.contains.iter().any(|c| text.contains(&c.to_lowercase())) {
        return false;
    }
    if w.min.is_some() || w.below.is_some() {
        let Ok(x) = v.number(None) else { return false };
        if w.min.is_some_and(|m| x < m) || w.below.is_some_and(|b| x >= b) {
            return false;
        }
    }
    true
}

fn mapped(map: &BTreeMap<String, serde_yaml_ng::Value>, v: V) -> V {
    match map.get(&v.text()).and_then(V::from_yaml) {
        Some(m) => m,
        None => v,
    }
}

/// A translator at work on one header.
struct Reader<'a> {
    def: &'a InstrumentDefinition,
    rules: &'a BTreeMap<String, Rule>,
    h: &'a Header,
}

impl Reader<'_> {
    /// A property's value, `None` when the header does not give it.
    fn value(&self, property: &str) -> Result<Option<V>, String> {
        let Some(rule) = self.rules.get(property) else {
            return Ok(None);
        };
        let err = |m: String| format!("{property}: {m}");
        if let Some(c) = &rule.compute {
            if let Some(v) = self.compute(c).map_err(err)? {
                return Ok(Some(v));
            }
        }
        if let Some(w) = rule.when.as_ref().filter(|w| holds(w, self.h)) {
            if let Some(v) = w.value.as_ref().and_then(V::from_yaml) {
                return Ok(Some(v));
            }
        }
        let mut v = match (&rule.value, &rule.key) {
            (Some(c), _) => V::from_yaml(c),
            (None, Some(keys)) => keys
                .list()
                .into_iter()
                .find_map(|k| self.h.get(k).and_then(V::from_fits)),
            (None, None) => None,
        };
        if v.is_none() {
            v = rule.default.as_ref().and_then(V::from_yaml);
            return Ok(v);
        }
        let Some(mut v) = v else { return Ok(None) };
        if let Some(re) = &rule.regex {
            let re = regex::Regex::new(re).map_err(|e| err(format!("bad regex: {e}")))?;
            let text = v.text();
            let cap = re
                .captures(&text)
                .and_then(|c| c.get(1).or_else(|| c.get(0)))
                .ok_or_else(|| err(format!("{text:?} does not match {}", re.as_str())))?;
            v = V::Text(cap.as_str().to_owned());
        }
        if rule.lower {
            v = V::Text(v.text().to_lowercase());
        }
        if rule.upper {
            v = V::Text(v.text().to_uppercase());
        }
        v = mapped(&rule.map, v);
        if let Some(w) = rule.when.as_ref().filter(|w| holds(w, self.h)) {
            v = mapped(&w.map, v);
        }
        let numeric = rule.unit.is_some()
            || rule.factor.is_some()
            || rule.offset.is_some()
            || rule.wrap.is_some()
            || rule.min.is_some()
            || rule.max.is_some();
        if numeric {
            let mut x = v.number(rule.unit.as_deref()).map_err(err)?;
            x = x * rule.factor.unwrap_or(1.0) + rule.offset.unwrap_or(0.0);
            if let Some(w) = rule.wrap {
                x = x.rem_euclid(w);
            }
            if let Some(m) = rule.min {
                x = x.max(m);
            }
            if let Some(m) = rule.max {
                x = x.min(m);
            }
            v = V::Num(x);
        }
        Ok(Some(v))
    }

    fn compute(&self, name: &str) -> Result<Option<V>, String> {
        match name {
            "hsc_exposure_id" => self.hsc_exposure_id().map(|i| Some(V::Int(i))),
            // Applied by the caller, after the date is read.
            "end_at_least_exposure" => Ok(None),
            other => Err(format!(
                "unknown computation {other:?} (hsc_exposure_id, end_at_least_exposure)"
            )),
        }
    }

    /// HSC's exposure id from `EXP-ID` (`HSCE########`, or `HSC<letter>######00` with
    /// the letter counting millions; `FRAMEID`'s even number when the id is zero).
    fn hsc_exposure_id(&self) -> Result<i64, String> {
        let exp = self
            .h
            .get_str("EXP-ID")
            .ok_or("no EXP-ID string")?
            .trim()
            .to_owned();
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if let Some(n) = exp
            .strip_prefix("HSCE")
            .filter(|n| n.len() == 8 && digits(n))
        {
            return n.parse().map_err(|e| format!("EXP-ID {exp:?}: {e}"));
        }
        let parse = |s: &str, tail: usize| -> Option<(i64, i64)> {
            let rest = s.strip_prefix("HSC")?;
            let letter = rest.chars().next().filter(char::is_ascii_uppercase)?;
            let num = rest.get(1..)?;
            if num.len() != 6 + tail || !digits(num) {
                return None;
            }
            Some((letter as i64 - 'A' as i64, num[..6].parse().ok()?))
        };
        let (letter, mut visit) = parse(&exp, 2)
            .filter(|_| exp.ends_with("00"))
            .ok_or_else(|| format!("cannot read EXP-ID {exp:?}"))?;
        let mut letter = letter;
        if visit == 0 {
            let frame = self.h.get_str("FRAMEID").unwrap_or("").trim().to_owned();
            (letter, visit) =
                parse(&frame, 2).ok_or_else(|| format!("cannot read FRAMEID {frame:?}"))?;
            if visit % 2 == 1 {
                visit -= 1;
            }
        }
        Ok(visit + 1_000_000 * letter)
    }

    /// A time property, in TAI nanoseconds.
    fn time(&self, property: &str) -> Result<Option<i64>, String> {
        let Some(rule) = self.rules.get(property) else {
            return Ok(None);
        };
        let err = |m: String| format!("{property}: {m}");
        let scale = rule
            .timesys_key
            .as_deref()
            .and_then(|k| self.h.get_str(k))
            .map(str::to_owned)
            .or_else(|| rule.timesys.clone())
            .unwrap_or_else(|| "utc".into())
            .to_lowercase();
        let date = rule.date.as_ref().and_then(|keys| {
            keys.list()
                .into_iter()
                .find_map(|k| self.h.get_str(k).filter(|s| !s.trim().is_empty()))
        });
        let ns = if let Some(date) = date {
            let mut text = date.trim().to_owned();
            if let Some(tk) = &rule.time {
                let time = self
                    .h
                    .get_str(tk)
                    .ok_or_else(|| err(format!("no {tk} to go with the date")))?;
                text = format!("{text}T{}", time.trim());
            }
            valet_registry::timespan::parse_utc_iso(&text).map_err(|e| err(e.to_string()))?
        } else if let Some(mjd) = rule.mjd.as_deref().and_then(|k| self.h.get_f64(k)) {
            valet_registry::timespan::mjd_to_ns(mjd)
        } else {
            return Ok(None);
        };
        match scale.as_str() {
            "utc" => utc_to_tai(ns).map(Some).map_err(err),
            "tai" => Ok(Some(ns)),
            "tt" => Ok(Some(ns - 32_184_000_000)),
            other => Err(err(format!(
                "time scale {other:?} is not supported (UTC, TAI, TT)"
            ))),
        }
    }

    fn text(&self, p: &str) -> Result<Option<String>, String> {
        Ok(self.value(p)?.map(|v| v.text()))
    }

    fn float(&self, p: &str) -> Result<Option<f64>, String> {
        self.value(p)?
            .map(|v| v.number(None).map_err(|e| format!("{p}: {e}")))
            .transpose()
    }

    fn int(&self, p: &str) -> Result<Option<i64>, String> {
        match self.value(p)? {
            None => Ok(None),
            Some(V::Int(i)) => Ok(Some(i)),
            Some(V::Num(x)) if x.fract() == 0.0 => Ok(Some(x as i64)),
            Some(V::Text(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{p}: {s:?} is not an integer")),
            Some(v) => Err(format!("{p}: {} is not an integer", v.text())),
        }
    }

    fn bool(&self, p: &str) -> Result<Option<bool>, String> {
        Ok(match self.value(p)? {
            None => None,
            Some(V::Bool(b)) => Some(b),
            Some(v) => Some(matches!(
                v.text().to_lowercase().as_str(),
                "t" | "true" | "1"
            )),
        })
    }

    fn required<T>(&self, p: &str, v: Option<T>) -> Result<T, String> {
        v.ok_or_else(|| {
            let keys = self
                .rules
                .get(p)
                .and_then(|r| r.key.as_ref().or(r.date.as_ref()))
                .map(|k| format!(" (no {})", k.list().join(" or ")))
                .unwrap_or_default();
            format!("the header gives no {p}{keys}")
        })
    }
}

/// Whether a definition's translator recognises a header as its instrument's.
pub fn recognises(def: &InstrumentDefinition, h: &Header) -> bool {
    let Some(t) = &def.translator else {
        return false;
    };
    if !t.recognize.is_empty() {
        return t.recognize.iter().any(|w| holds(w, h));
    }
    let reader = Reader {
        def,
        rules: &t.properties,
        h,
    };
    matches!(reader.text("instrument"), Ok(Some(name)) if name == def.name)
}

/// The headers of a file's raws: each detector extension read over the primary
/// header when the translator names detector HDUs, else the primary header alone.
/// Each comes with the index of its HDU.
pub fn raw_headers(def: &InstrumentDefinition, hdus: &[Hdu]) -> Vec<(usize, Header)> {
    let Some(primary) = hdus.first() else {
        return Vec::new();
    };
    match def
        .translator
        .as_ref()
        .and_then(|t| t.detector_hdus.as_ref())
    {
        None => vec![(0, primary.header.clone())],
        Some(sel) => hdus
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, hdu)| match hdu.header.get_i64(&sel.key) {
                Some(n) => sel.max.is_none_or(|m| n <= m),
                None => false,
            })
            .map(|(i, hdu)| (i, hdu.header.merged_over(&primary.header)))
            .collect(),
    }
}

/// Translate one raw's header with an instrument's definition.
pub fn translate(def: &InstrumentDefinition, h: &Header) -> Result<ObservationInfo, String> {
    let t = def
        .translator
        .as_ref()
        .ok_or_else(|| format!("instrument {} has no header translator", def.name))?;
    let r = Reader {
        def,
        rules: &t.properties,
        h,
    };
    let instrument = r.text("instrument")?.unwrap_or_else(|| def.name.clone());
    if instrument != def.name {
        return Err(format!(
            "the header is from instrument {instrument:?}, not {}",
            def.name
        ));
    }
    let detector = r.required("detector", r.int("detector")?)?;
    let det = r.def.detector(detector).ok_or_else(|| {
        format!(
            "detector {detector} is not one of {}'s (register the instrument's definition with it)",
            def.name
        )
    })?;
    let exposure_id = r.required("exposure_id", r.int("exposure_id")?)?;
    let exposure_time = r.required("exposure_time", r.float("exposure_time")?)?;
    let begin = r.required("datetime_begin", r.time("datetime_begin")?)?;
    let exposure_ns = (exposure_time * NS as f64).round() as i64;
    let mut end = r.time("datetime_end")?.unwrap_or(begin + exposure_ns);
    let at_least = t
        .properties
        .get("datetime_end")
        .and_then(|rule| rule.compute.as_deref())
        == Some("end_at_least_exposure");
    if at_least {
        end = end.max(begin + exposure_ns);
    }
    let observation_type = r.text("observation_type")?;
    let observation_reason = match r.text("observation_reason")? {
        Some(reason) => Some(reason),
        None => observation_type.as_ref().map(|t| {
            if t == "science" {
                "science".to_owned()
            } else {
                "unknown".to_owned()
            }
        }),
    };
    let can_see_sky = observation_type.as_ref().and_then(|ty| {
        let ty = ty.to_lowercase();
        if t.sky_types.iter().any(|s| s.to_lowercase() == ty) {
            Some(true)
        } else if t.non_sky_types.iter().any(|s| s.to_lowercase() == ty) {
            Some(false)
        } else {
            None
        }
    });
    let (tracking_ra, tracking_dec) = tracking(&r)?;
    let altitude = r.float("altitude")?;
    let observing_day = match r.int("observing_day")? {
        Some(d) => d,
        None => {
            let (y, m, d) = civil_from_days((begin - def.day_obs_offset * NS).div_euclid(DAY_NS));
            y * 10_000 + m * 100 + d
        }
    };
    Ok(ObservationInfo {
        detector_name: det.name_in_raft.clone(),
        detector_unique_name: det.full_name.clone(),
        instrument,
        detector,
        physical_filter: r.required("physical_filter", r.text("physical_filter")?)?,
        exposure_id,
        observation_id: r.required("observation_id", r.text("observation_id")?)?,
        datetime_begin: begin,
        datetime_end: end,
        exposure_time,
        dark_time: r.float("dark_time")?,
        observation_type,
        observation_reason,
        science_program: r.text("science_program")?,
        object: r.text("object")?,
        tracking_ra,
        tracking_dec,
        zenith_angle: altitude.map(|a| 90.0 - a),
        altitude,
        azimuth: r.float("azimuth")?,
        boresight_rotation_angle: r.float("boresight_rotation_angle")?,
        boresight_rotation_coord: r.text("boresight_rotation_coord")?,
        observing_day,
        observation_counter: r.int("observation_counter")?,
        group: r.text("group")?.unwrap_or_else(|| exposure_id.to_string()),
        can_see_sky,
        has_simulated_content: r.bool("has_simulated_content")?.unwrap_or(false),
    })
}

/// The tracking position in ICRS degrees, from the header's frame.
fn tracking(r: &Reader<'_>) -> Result<(Option<f64>, Option<f64>), String> {
    let (Some(ra), Some(dec)) = (r.float("tracking_ra")?, r.float("tracking_dec")?) else {
        return Ok((None, None));
    };
    let frame = r
        .text("tracking_frame")?
        .unwrap_or_else(|| "icrs".into())
        .to_lowercase();
    match frame.as_str() {
        "icrs" => Ok((Some(ra), Some(dec))),
        "fk5" => {
            let equinox = r.float("tracking_equinox")?.unwrap_or(2000.0);
            if (equinox - 2000.0).abs() > 1e-9 {
                return Err(format!(
                    "tracking position in FK5 equinox {equinox}: only J2000 is supported"
                ));
            }
            let (a, d) = fk5_j2000_to_icrs(ra, dec);
            Ok((Some(a), Some(d)))
        }
        // Apparent geocentric positions are not a tracking position (as the reference).
        "gappt" => Ok((None, None)),
        other => Err(format!(
            "tracking frame {other:?} is not supported (ICRS, FK5)"
        )),
    }
}

/// The day_obs record's timespan: the observing day from its offset, one day long.
pub fn day_obs_timespan(day_obs: i64, offset_seconds: i64) -> (i64, i64) {
    let days = days_from_civil(day_obs / 10_000, day_obs / 100 % 100, day_obs % 100);
    let begin = days * DAY_NS + offset_seconds * NS;
    (begin, begin + DAY_NS)
}
