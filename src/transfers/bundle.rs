//! An import sent to a server (`valet --server URL import DIR …`): the export files a
//! directory holds and the files they name, packed into one zip with a manifest, and
//! on the server unpacked into a staging directory and imported from there, copied
//! into the datastore, in one transaction.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path};

use crate::transfers::{read_export, select_export_files, Entry, ImportOptions, ImportSummary};
use crate::{Repo, RepoError, TransferMode};

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
    let mut zip = zip::ZipWriter::new(out);
    // The files are data (FITS, mostly incompressible): stored, not deflated.
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let fail = |e: zip::result::ZipError| RepoError::Invalid(format!("writing the bundle: {e}"));
    let text = serde_json::to_string(&manifest)
        .map_err(|e| RepoError::Invalid(format!("writing the bundle: {e}")))?;
    zip.start_file(MANIFEST, stored).map_err(fail)?;
    zip.write_all(text.as_bytes())
        .map_err(io(Path::new(MANIFEST)))?;
    let members = manifest
        .export_files
        .iter()
        .chain(files.iter().filter(|_| with_files));
    for member in members {
        let source = directory.join(member);
        let mut file = File::open(&source).map_err(io(&source))?;
        zip.start_file(member.as_str(), stored).map_err(fail)?;
        std::io::copy(&mut file, &mut zip).map_err(io(&source))?;
    }
    zip.finish().map_err(fail)?;
    Ok(())
}

impl Repo {
    /// Import a bundle that [`write_import_bundle`] packed: unpacked into a staging
    /// directory (refusing members that would land outside it), imported from there
    /// in one transaction with the files copied into the datastore, then removed.
    pub fn import_bundle(&self, bundle: &Path) -> Result<ImportSummary, RepoError> {
        let shown = bundle.display().to_string();
        let not_zip = |e: zip::result::ZipError| RepoError::Invalid(format!("{shown}: {e}"));
        let mut archive =
            zip::ZipArchive::new(File::open(bundle).map_err(io(bundle))?).map_err(not_zip)?;
        let staging = tempfile::tempdir().map_err(io(Path::new("a staging directory")))?;
        let mut manifest_text = String::new();
        for i in 0..archive.len() {
            let mut member = archive.by_index(i).map_err(not_zip)?;
            let name = member.name().to_owned();
            if name == MANIFEST {
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
}
