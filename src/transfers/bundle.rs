//! Imports and ingests sent to a server (`valet --server URL import DIR …`,
//! `… ingest-files …`): the export files a directory holds and the files they name,
//! or the files an ingest table lists, packed into one zip with a manifest, and on
//! the server unpacked into a staging directory and imported or ingested from
//! there, copied into the datastore, in one transaction.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::ingest::{FileToIngest, IngestTableOptions};
use crate::transfers::{read_export, select_export_files, Entry, ImportOptions, ImportSummary};
use crate::{Repo, RepoError, TransferMode};
use valet_registry::{DataId, DatasetRef};

/// The bundle member saying what to import.
const MANIFEST: &str = "valet-import.json";

/// What a bundle asks of the import.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct BundleManifest {
    /// The export files, relative to the bundle's root.
    pub export_files: Vec<String>,
    /// Whether the datasets' files come too (else only the registry side is imported).
    pub with_files: bool,
    /// Dimension elements whose records are not imported.
    pub skip_dimensions: Vec<String>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RepoError + '_ {
    move |source| RepoError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A path that stays inside the directory it is relative to.
fn contained(relative: &str) -> bool {
    let p = Path::new(relative);
    !relative.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Pack the export files that `patterns` select under `directory` (as `valet
/// import` selects them) and, `with_files`, every file they name, into a zip
/// written to `out`. A file named outside the directory is refused: a server cannot
/// read the client's disk.
pub fn write_import_bundle(
    directory: &Path,
    patterns: &[String],
    with_files: bool,
    skip_dimensions: &[String],
    out: &mut (impl Write + std::io::Seek),
) -> Result<(), RepoError> {
    let exports = select_export_files(directory, patterns)?;
    let mut manifest = BundleManifest {
        with_files,
        skip_dimensions: skip_dimensions.to_vec(),
        ..Default::default()
    };
    let mut files = BTreeSet::new();
    for path in &exports {
        let relative = path
            .strip_prefix(directory)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|_| {
                RepoError::Invalid(format!(
                    "{}: not under {}",
                    path.display(),
                    directory.display()
                ))
            })?;
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let export = read_export(&text, &path.display().to_string())?;
        for (_, entry) in &export.entries {
            let Entry::Datasets { files: listed, .. } = entry else {
                continue;
            };
            for f in listed.iter().filter_map(|f| f.path.as_deref()) {
                if !contained(f) {
                    return Err(RepoError::Invalid(format!(
                        "{}: file {f:?} lies outside the export directory; a server can be sent only files under it",
                        path.display()
                    )));
                }
                files.insert(f.to_owned());
            }
        }
        manifest.export_files.push(relative);
    }
    let text = serde_json::to_string(&manifest)
        .map_err(|e| RepoError::Invalid(format!("writing the bundle: {e}")))?;
    let members = manifest
        .export_files
        .iter()
        .chain(files.iter().filter(|_| with_files))
        .map(|m| (m.clone(), directory.join(m)));
    write_zip(MANIFEST, &text, members, out)
}

/// Write a bundle: the manifest, then each `(member name, source file)`, stored
/// as they are (the files are data, FITS mostly, and do not compress).
fn write_zip(
    manifest_name: &str,
    manifest: &str,
    members: impl Iterator<Item = (String, PathBuf)>,
    out: &mut (impl Write + std::io::Seek),
) -> Result<(), RepoError> {
    let mut zip = zip::ZipWriter::new(out);
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let fail = |e: zip::result::ZipError| RepoError::Invalid(format!("writing the bundle: {e}"));
    zip.start_file(manifest_name, stored).map_err(fail)?;
    zip.write_all(manifest.as_bytes())
        .map_err(io(Path::new(manifest_name)))?;
    for (member, source) in members {
        let mut file = File::open(&source).map_err(io(&source))?;
        zip.start_file(member.as_str(), stored).map_err(fail)?;
        std::io::copy(&mut file, &mut zip).map_err(io(&source))?;
    }
    zip.finish().map_err(fail)?;
    Ok(())
}

/// Unpack a bundle into a new staging directory, refusing members that would land
/// outside it; returns the directory (removed when dropped) and the manifest text.
fn unpack(bundle: &Path, manifest_name: &str) -> Result<(tempfile::TempDir, String), RepoError> {
    let shown = bundle.display().to_string();
    let not_zip = |e: zip::result::ZipError| RepoError::Invalid(format!("{shown}: {e}"));
    let mut archive =
        zip::ZipArchive::new(File::open(bundle).map_err(io(bundle))?).map_err(not_zip)?;
    let staging = tempfile::tempdir().map_err(io(Path::new("a staging directory")))?;
    let mut manifest_text = String::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(not_zip)?;
        let name = member.name().to_owned();
        if name == manifest_name {
            member
                .read_to_string(&mut manifest_text)
                .map_err(io(bundle))?;
            continue;
        }
        let Some(relative) = member.enclosed_name().filter(|_| contained(&name)) else {
            return Err(RepoError::Invalid(format!(
                "{shown}: member {name:?} would land outside the import"
            )));
        };
        let target = staging.path().join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = File::create(&target).map_err(io(&target))?;
        std::io::copy(&mut member, &mut out).map_err(io(&target))?;
    }
    if manifest_text.is_empty() {
        return Err(RepoError::Invalid(format!("{shown}: no {manifest_name}")));
    }
    Ok((staging, manifest_text))
}

/// Why only copies can be sent to a server (for [`copies_only`]).
pub const SENT_ARE_COPIED: &str = "files sent to a server are copied into its datastore";

/// Refuse a transfer mode other than copying (`auto` copies) for files that cross
/// to or from a server, where a link could not reach; `why` says which way.
pub fn copies_only(mode: TransferMode, why: &str) -> Result<(), RepoError> {
    if matches!(mode, TransferMode::Auto | TransferMode::Copy) {
        Ok(())
    } else {
        Err(RepoError::Invalid(format!(
            "-t {}: {why} (auto or copy)",
            mode.name()
        )))
    }
}

/// The bundle member saying what to ingest.
const INGEST_MANIFEST: &str = "valet-ingest.json";

/// What an ingest bundle asks: [`IngestTableOptions`] but the table and where its
/// files are, and each file's member name and data ID.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct IngestManifest {
    dataset_type: String,
    run: String,
    id_generation: String,
    formatter: Option<String>,
    track_file_attrs: bool,
    files: Vec<(String, DataId)>,
}

/// Pack the files an ingest table lists (read as `valet ingest-files` reads it)
/// and what to do with them into a zip written to `out`, for a server, which
/// copies them into its datastore. Returns how many files it holds.
pub fn write_ingest_bundle(
    table: &Path,
    options: &IngestTableOptions,
    out: &mut (impl Write + std::io::Seek),
) -> Result<usize, RepoError> {
    copies_only(options.transfer, SENT_ARE_COPIED)?;
    let files = crate::ingest::table_files(table, options)?;
    let mut manifest = IngestManifest {
        dataset_type: options.dataset_type.clone(),
        run: options.run.clone(),
        id_generation: options.id_generation.name().to_owned(),
        formatter: options.formatter.clone(),
        track_file_attrs: options.track_file_attrs,
        files: Vec::with_capacity(files.len()),
    };
    let mut members = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        // The file's own name is kept: its extension may choose the formatter.
        let name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let member = format!("files/{i}/{name}");
        manifest.files.push((member.clone(), f.data_id.clone()));
        members.push((member, f.path.clone()));
    }
    let text = serde_json::to_string(&manifest)
        .map_err(|e| RepoError::Invalid(format!("writing the bundle: {e}")))?;
    write_zip(INGEST_MANIFEST, &text, members.into_iter(), out)?;
    Ok(files.len())
}

impl Repo {
    /// Import a bundle that [`write_import_bundle`] packed: unpacked into a staging
    /// directory (refusing members that would land outside it), imported from there
    /// in one transaction with the files copied into the datastore, then removed.
    pub fn import_bundle(&self, bundle: &Path) -> Result<ImportSummary, RepoError> {
        let shown = bundle.display().to_string();
        let (staging, manifest_text) = unpack(bundle, MANIFEST)?;
        let manifest: BundleManifest = serde_json::from_str(&manifest_text)
            .map_err(|e| RepoError::Invalid(format!("{shown}: no readable {MANIFEST}: {e}")))?;
        self.import_directory(
            staging.path(),
            &manifest.export_files,
            &ImportOptions {
                skip_dimensions: manifest.skip_dimensions,
                // The staging directory goes when this returns: only a copy lasts.
                transfer: manifest.with_files.then_some(TransferMode::Copy),
                directory: None,
                progress: None,
                allow_outside: false,
            },
        )
    }

    /// Ingest a bundle that [`write_ingest_bundle`] packed: unpacked into a staging
    /// directory and ingested from there in one transaction, the files copied into
    /// the datastore.
    pub fn ingest_bundle(&self, bundle: &Path) -> Result<Vec<DatasetRef>, RepoError> {
        let shown = bundle.display().to_string();
        let (staging, manifest_text) = unpack(bundle, INGEST_MANIFEST)?;
        let manifest: IngestManifest = serde_json::from_str(&manifest_text).map_err(|e| {
            RepoError::Invalid(format!("{shown}: no readable {INGEST_MANIFEST}: {e}"))
        })?;
        let mut files = Vec::with_capacity(manifest.files.len());
        for (member, data_id) in manifest.files {
            if !contained(&member) {
                return Err(RepoError::Invalid(format!(
                    "{shown}: file {member:?} would lie outside the ingest"
                )));
            }
            files.push(FileToIngest {
                path: staging.path().join(member),
                data_id,
                id: None,
            });
        }
        let options = IngestTableOptions {
            dataset_type: manifest.dataset_type,
            run: manifest.run,
            data_id: DataId::new(),
            prefix: None,
            allow_outside: false,
            // The staging directory goes when this returns: only a copy lasts.
            transfer: TransferMode::Copy,
            id_generation: manifest.id_generation.parse().map_err(RepoError::Invalid)?,
            formatter: manifest.formatter,
            track_file_attrs: manifest.track_file_attrs,
        };
        self.ingest_listed(&files, &options)
    }
}
