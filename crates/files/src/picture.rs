//! Images: width and height from the header, checked against `files.max_pixels` before
//! anything is decoded; then a thumbnail, decoded under limits and encoded afresh, so none of
//! the original's metadata (EXIF, GPS) comes along. Called on the blocking pool.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// Longest side of a thumbnail.
pub(crate) const THUMB_SIDE: u32 = 320;

/// A checked image and its thumbnail.
#[derive(Debug)]
pub(crate) struct Picture {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) thumb: Vec<u8>,
    pub(crate) thumb_type: &'static str,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PictureError {
    /// Width × height past the limit.
    TooManyPixels { width: u32, height: u32 },
    /// The header or the pixels do not decode.
    Broken,
}

/// Checks `bytes` (an image of `media_type`) and makes its thumbnail. CPU-bound: run it with
/// `spawn_blocking`.
pub(crate) fn examine(
    bytes: &[u8],
    media_type: &str,
    max_pixels: u64,
) -> Result<Picture, PictureError> {
    let format = ImageFormat::from_mime_type(media_type).ok_or(PictureError::Broken)?;
    let reader = || {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.no_limits();
        reader
    };
    let (width, height) = reader()
        .into_dimensions()
        .map_err(|_| PictureError::Broken)?;
    if u64::from(width) * u64::from(height) > max_pixels || width == 0 || height == 0 {
        return Err(PictureError::TooManyPixels { width, height });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // The decoded picture (8 bytes a pixel covers 16-bit RGBA) and the decoder's buffers.
    limits.max_alloc = Some((u64::from(width) * u64::from(height)).saturating_mul(8) + (64 << 20));
    let mut decoding = reader();
    decoding.limits(limits);
    let image = decoding.decode().map_err(|_| PictureError::Broken)?;
    let small = if width > THUMB_SIDE || height > THUMB_SIDE {
        image.thumbnail(THUMB_SIDE, THUMB_SIDE)
    } else {
        image
    };
    let mut thumb = Cursor::new(Vec::new());
    let thumb_type = if format == ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(small.to_rgb8())
            .write_to(&mut thumb, ImageFormat::Jpeg)
            .map_err(|_| PictureError::Broken)?;
        "image/jpeg"
    } else {
        small
            .write_to(&mut thumb, ImageFormat::Png)
            .map_err(|_| PictureError::Broken)?;
        "image/png"
    };
    Ok(Picture {
        width,
        height,
        thumb: thumb.into_inner(),
        thumb_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image::RgbImage::from_pixel(width, height, image::Rgb([200, 10, 10]))
            .write_to(&mut out, ImageFormat::Png)
            .expect("encoded");
        out.into_inner()
    }

    #[test]
    fn a_large_image_gets_a_small_thumbnail() {
        let picture = examine(&png(800, 400), "image/png", 1_000_000).expect("an image");
        assert_eq!((picture.width, picture.height), (800, 400));
        let thumb = image::load_from_memory(&picture.thumb).expect("a png");
        assert_eq!((thumb.width(), thumb.height()), (320, 160));
    }

    #[test]
    fn pixels_are_counted_before_decoding() {
        assert_eq!(
            examine(&png(100, 100), "image/png", 9_999).expect_err("too many"),
            PictureError::TooManyPixels {
                width: 100,
                height: 100
            }
        );
        assert_eq!(
            examine(b"\x89PNG\r\n\x1a\nbroken", "image/png", 100).expect_err("broken"),
            PictureError::Broken
        );
    }
}
