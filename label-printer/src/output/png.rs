//! PNG output: a 1-bit raster at the stock's dpi (with the dpi recorded in `pHYs`).
//!
//! Text is drawn with the public-domain 8x8 bitmap font from `font8x8` (ASCII and Latin-1),
//! scaled into the layout metric's character cell, so text occupies exactly the box that layout
//! measured. Bars and modules are whole dots, as on a thermal printer.

use super::RenderError;
use crate::barcode::datamatrix;
use crate::layout::{char_advance, line_height, Layout, Primitive};
use font8x8::legacy::{BASIC_LEGACY, LATIN_LEGACY};

/// A monochrome image, one byte per pixel (1 = black), row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl Bitmap {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            pixels: vec![0; (width * height) as usize],
        }
    }

    /// Is the pixel black? Out of range is white.
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.height && self.pixels[(y * self.width + x) as usize] != 0
    }

    /// Fill a rectangle (clipped) with black (`v = 1`) or white (`v = 0`).
    pub fn fill(&mut self, x: u32, y: u32, w: u32, h: u32, v: u8) {
        let x1 = (x + w).min(self.width);
        let y1 = (y + h).min(self.height);
        if x >= x1 {
            return;
        }
        for yy in y.min(y1)..y1 {
            let row = (yy * self.width) as usize;
            self.pixels[row + x as usize..row + x1 as usize].fill(v);
        }
    }

    fn glyph(c: char) -> [u8; 8] {
        let cp = c as u32;
        if cp < 128 {
            BASIC_LEGACY[cp as usize]
        } else if (0xA0..=0xFF).contains(&cp) {
            LATIN_LEGACY[(cp - 0xA0) as usize]
        } else {
            BASIC_LEGACY[b'?' as usize]
        }
    }

    /// Draw one line of text with its top-left at (x, y), characters `size` dots high.
    pub fn text(&mut self, x: u32, y: u32, size: u32, s: &str, v: u8) {
        let cw = char_advance(size);
        let mut cx = x;
        // Precompute the source column/row of each destination column/row of a cell.
        let sx: Vec<u32> = (0..cw).map(|dx| dx * 8 / cw).collect();
        for c in s.chars() {
            let g = Self::glyph(c);
            if g != [0; 8] {
                for dy in 0..size {
                    let py = y + dy;
                    if py >= self.height {
                        break;
                    }
                    let bits = g[(dy * 8 / size) as usize];
                    if bits == 0 {
                        continue;
                    }
                    let row = (py * self.width) as usize;
                    for (dx, &col) in sx.iter().enumerate() {
                        let px = cx + dx as u32;
                        if px < self.width && (bits >> col) & 1 == 1 {
                            self.pixels[row + px as usize] = v;
                        }
                    }
                }
            }
            cx += cw;
        }
    }
}

/// Draw a layout into a bitmap of its size in dots.
pub fn rasterize(layout: &Layout) -> Result<Bitmap, RenderError> {
    let mut bm = Bitmap::new(layout.width, layout.height);
    for p in &layout.primitives {
        match p {
            Primitive::Text(t) => {
                let v = if t.reverse { 0 } else { 1 };
                for (i, line) in t.lines.iter().enumerate() {
                    let y = t.y + i as u32 * line_height(t.size);
                    bm.text(t.line_x(i), y, t.size, line, v);
                }
            }
            Primitive::Rect {
                x,
                y,
                w,
                h,
                filled,
                thickness,
            } => {
                if *filled {
                    bm.fill(*x, *y, *w, *h, 1);
                } else {
                    let t = (*thickness).max(1);
                    bm.fill(*x, *y, *w, t, 1);
                    bm.fill(*x, (y + h).saturating_sub(t), *w, t, 1);
                    bm.fill(*x, *y, t, *h, 1);
                    bm.fill((x + w).saturating_sub(t), *y, t, *h, 1);
                }
            }
            Primitive::Code128 {
                x,
                y,
                module,
                height,
                code,
            } => {
                for (start, len) in super::bar_runs(&code.modules()?) {
                    bm.fill(x + start * module, *y, len * module, *height, 1);
                }
            }
            Primitive::DataMatrix {
                x,
                y,
                module,
                data,
                gs1,
                ..
            } => {
                let m = datamatrix(data, *gs1)?;
                for my in 0..m.height {
                    for mx in 0..m.width {
                        if m.get(mx, my) {
                            bm.fill(
                                x + mx as u32 * module,
                                y + my as u32 * module,
                                *module,
                                *module,
                                1,
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(bm)
}

/// Encode a bitmap as a 1-bit greyscale PNG (black on white) with `dpi` in `pHYs`.
pub fn encode_png(bm: &Bitmap, dpi: u32) -> Result<Vec<u8>, RenderError> {
    let stride = bm.width.div_ceil(8) as usize;
    let mut packed = vec![0u8; stride * bm.height as usize];
    for y in 0..bm.height as usize {
        let src = &bm.pixels[y * bm.width as usize..(y + 1) * bm.width as usize];
        let dst = &mut packed[y * stride..(y + 1) * stride];
        for (i, chunk) in src.chunks(8).enumerate() {
            let mut byte = 0xFFu8; // white
            for (j, &p) in chunk.iter().enumerate() {
                if p != 0 {
                    byte &= !(0x80 >> j);
                }
            }
            dst[i] = byte;
        }
    }
    let mut out = Vec::with_capacity(packed.len() / 8 + 256);
    {
        let mut enc = ::png::Encoder::new(&mut out, bm.width, bm.height);
        enc.set_color(::png::ColorType::Grayscale);
        enc.set_depth(::png::BitDepth::One);
        enc.set_compression(::png::Compression::Fast);
        let ppm = (dpi as f64 / 0.0254).round() as u32;
        enc.set_pixel_dims(Some(::png::PixelDimensions {
            xppu: ppm,
            yppu: ppm,
            unit: ::png::Unit::Meter,
        }));
        let mut w = enc
            .write_header()
            .map_err(|e| RenderError::Png(e.to_string()))?;
        w.write_image_data(&packed)
            .map_err(|e| RenderError::Png(e.to_string()))?;
        w.finish().map_err(|e| RenderError::Png(e.to_string()))?;
    }
    Ok(out)
}

/// Render a layout to PNG bytes.
pub fn to_png(layout: &Layout) -> Result<Vec<u8>, RenderError> {
    encode_png(&rasterize(layout)?, layout.stock.dpi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{sample_folder_label, LabelStock};
    use crate::layout::layout_folder;

    #[test]
    fn png_is_a_png_of_the_right_size() {
        let l = layout_folder(&sample_folder_label(), &LabelStock::default()).unwrap();
        let bytes = to_png(&l).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let dec = ::png::Decoder::new(std::io::Cursor::new(&bytes));
        let reader = dec.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (799, 400));
        assert_eq!(info.bit_depth, ::png::BitDepth::One);
    }

    #[test]
    fn raster_draws_bars_text_and_reverse_block() {
        let l = layout_folder(&sample_folder_label(), &LabelStock::default()).unwrap();
        let bm = rasterize(&l).unwrap();
        let black = bm.pixels.iter().filter(|&&p| p != 0).count();
        assert!(black > 10_000 && black < bm.pixels.len() / 2, "{black}");
        for p in &l.primitives {
            match p {
                // First module of Code 128 start character is a bar, quiet zone before it white.
                Primitive::Code128 { x, y, module, .. } => {
                    assert!(bm.get(*x, y + 2));
                    assert!(!bm.get(x - 5 * module, y + 2));
                }
                // Data Matrix finder: bottom-left corner black.
                Primitive::DataMatrix {
                    x, y, module, side, ..
                } => {
                    assert!(bm.get(*x, y + side * module - 1));
                }
                // The reverse box has white pixels (the digits) inside it.
                Primitive::Rect { x, y, w, h, .. } => {
                    let mut white = 0;
                    for yy in *y..y + h {
                        for xx in *x..x + w {
                            white += usize::from(!bm.get(xx, yy));
                        }
                    }
                    assert!(white > 50, "{white}");
                }
                _ => {}
            }
        }
    }
}
