//! Decoder errors in words. The proof file is postcard-encoded; postcard's own messages name
//! its internals ("Found an Option discriminant that wasn't 0 or 1", "Serde Deserialization
//! Error"), which tell a user nothing about the file. These say what the bytes were found to
//! hold.

/// What postcard found wrong with the bytes it decoded, in words.
pub fn postcard_in_words(e: &postcard::Error) -> &'static str {
    use postcard::Error as E;
    match e {
        E::DeserializeUnexpectedEnd => "it ends before the value does (truncated)",
        E::DeserializeBadVarint => "a length or number whose encoding never ends",
        E::DeserializeBadBool => "a yes/no field that is neither 0 nor 1",
        E::DeserializeBadChar => "a character that is not a valid Unicode character",
        E::DeserializeBadUtf8 => "text that is not valid UTF-8",
        E::DeserializeBadOption => {
            "an optional field whose marker is neither 0 (absent) nor 1 (present)"
        }
        E::DeserializeBadEnum => "a kind tag that no kind has",
        E::DeserializeBadEncoding => "bytes that are not a valid encoding of the value",
        E::DeserializeBadCrc => "a checksum that does not match",
        E::SerdeDeCustom => "a value outside the range its field allows",
        _ => "bytes that cannot be decoded",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoder_errors_name_no_internals() {
        use postcard::Error as E;
        for e in [
            E::DeserializeUnexpectedEnd,
            E::DeserializeBadVarint,
            E::DeserializeBadBool,
            E::DeserializeBadChar,
            E::DeserializeBadUtf8,
            E::DeserializeBadOption,
            E::DeserializeBadEnum,
            E::DeserializeBadEncoding,
            E::DeserializeBadCrc,
            E::SerdeDeCustom,
        ] {
            let w = super::postcard_in_words(&e);
            for internal in ["discriminant", "Serde", "varint", "Deserializ"] {
                assert!(!w.contains(internal), "{e:?}: {w}");
            }
        }
    }
}
