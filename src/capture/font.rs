//! A 5x7 bitmap font for the test pattern's captions (digits and a few signs).

/// Glyph rows, top to bottom; bit 4 is the leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        _ => [0; 7],
    }
}

pub const GLYPH_W: usize = 5;
pub const GLYPH_H: usize = 7;

/// Where and how a caption is drawn: top-left corner, size of one font pixel, luma values.
pub struct Caption {
    pub x: usize,
    pub y: usize,
    pub scale: usize,
    pub fg: u8,
    pub bg: u8,
}

/// Draws `text` into a luma plane of width `stride`, each font pixel a `scale` x `scale` block
/// of `fg`, on a `bg` box with one font pixel of margin.
pub fn draw_text(plane: &mut [u8], stride: usize, text: &str, c: &Caption) {
    let Caption {
        x,
        y,
        scale,
        fg,
        bg,
    } = *c;
    let advance = (GLYPH_W + 1) * scale;
    let box_w = text.chars().count() * advance + scale;
    let box_h = (GLYPH_H + 2) * scale;
    let rows = plane.len() / stride;
    for row in y..(y + box_h).min(rows) {
        let start = row * stride + x;
        let end = (start + box_w).min(row * stride + stride);
        if start < end {
            plane[start..end].fill(bg);
        }
    }
    for (i, c) in text.chars().enumerate() {
        let g = glyph(c);
        let gx = x + scale + i * advance;
        for (gy, bits) in g.iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    let row = y + scale + gy * scale + dy;
                    let px = gx + col * scale;
                    if row >= rows || px + scale > stride {
                        continue;
                    }
                    let at = row * stride + px;
                    plane[at..at + scale].fill(fg);
                }
            }
        }
    }
}
