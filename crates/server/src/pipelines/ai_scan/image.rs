//! Photos are recognised by their bytes, never by their name.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Webp,
}

impl ImageKind {
    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Webp => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Webp => "webp",
        }
    }
}

/// The format announced by the first bytes, if it is one we read.
pub fn sniff(head: &[u8]) -> Option<ImageKind> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageKind::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageKind::Png)
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(ImageKind::Webp)
    } else {
        None
    }
}

/// Why a photo is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// Read from the header, before any decoding (`--max-photo-pixels`).
    #[error("the image is {width}×{height} pixels, more than the limit of {max}")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("the image cannot be decoded: {0}")]
    Undecodable(String),
}

/// The image's size from its header, refused past `max_pixels` before a
/// byte of pixels is decoded: an 11,000 × 11,000 PNG is 459 KiB on the wire
/// and 460 MiB decoded (issue 17).
pub fn dimensions_within(
    path: &std::path::Path,
    max_pixels: u64,
) -> Result<(u32, u32), PhotoError> {
    let (width, height) = image::ImageReader::open(path)
        .and_then(image::ImageReader::with_guessed_format)
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?
        .into_dimensions()
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            max: max_pixels,
        });
    }
    Ok((width, height))
}

/// Checks the size, then decodes the whole image through `decodes` (one of
/// the server's decode places, `gate.rs`): a truncated or corrupt file is
/// refused before a job starts.
pub fn validate(
    path: &std::path::Path,
    max_pixels: u64,
    decodes: &super::gate::Gate,
) -> Result<(u32, u32), PhotoError> {
    dimensions_within(path, max_pixels)?;
    let _pass = decodes.enter();
    let img = image::ImageReader::open(path)
        .and_then(image::ImageReader::with_guessed_format)
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?
        .decode()
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    Ok((img.width(), img.height()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_magic_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(ImageKind::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageKind::Png));
        assert_eq!(
            sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b"%PDF-1.7"), None);
        assert_eq!(sniff(b""), None);
    }
}
