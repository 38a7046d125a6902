//! Patch: apply every site's same-size edits to a copy of the file, each checked against the
//! bytes it replaces; two sites that patch one place differently are a conflict.

use super::relink::RelinkError;
use crate::elf::Image;
use crate::sites::Site;

/// Apply the edits of every site to a copy of the file.
pub(crate) fn apply(img: &Image, sites: &[Site]) -> Result<Vec<u8>, RelinkError> {
    let mut out = img.bytes.clone();
    let mut seen: std::collections::BTreeMap<usize, (u32, String)> = Default::default();
    for s in sites {
        for e in &s.edits {
            if let Some((v, other)) = seen.get(&e.offset) {
                if *v != e.new {
                    return Err(RelinkError::Conflict {
                        offset: e.offset,
                        a: other.clone(),
                        b: s.location.clone(),
                    });
                }
                continue;
            }
            let cur = out
                .get(e.offset..e.offset + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| {
                    RelinkError::Validation(format!(
                        "edit at offset {:#x} is past the end of the file",
                        e.offset
                    ))
                })?;
            if cur != e.old {
                return Err(RelinkError::Validation(format!(
                    "{}: expected {:#010x} at offset {:#x}, found {cur:#010x}",
                    s.location, e.old, e.offset
                )));
            }
            out[e.offset..e.offset + 4].copy_from_slice(&e.new.to_le_bytes());
            seen.insert(e.offset, (e.new, s.location.clone()));
        }
    }
    Ok(out)
}
