//! A case written out as a case file for `cases/<operation>/`, which the loader reads back.

use crate::case::CaseFile;

/// The first line of every case file: editors with a YAML language server check the rest
/// against the case format.
pub const SCHEMA_LINE: &str = "# yaml-language-server: $schema=../case.schema.json";

/// The text of a case file holding `spec`, fields at their defaults left out.
pub fn case_file_text(spec: &CaseFile) -> Result<String, String> {
    let yaml =
        serde_saphyr::to_string(spec).map_err(|e| format!("cannot write the case as YAML: {e}"))?;
    Ok(format!("{SCHEMA_LINE}\n{yaml}"))
}

/// The folder under `cases/` for a request path: `/connection/query` is `connection_query`.
pub fn folder_for(path: &str) -> String {
    path.trim_matches('/').replace('/', "_")
}
