//! Column alignment as upstream's `tabwriter` does it for kubectl tables:
//! every column but the last is padded to its widest cell plus three spaces
//! (at least six wide), and widths only grow across flushes, so the rows a
//! watch prints later stay aligned with the header printed first.

/// Aligns rows of cells; remembers widths across [`TabWriter::render`] calls.
#[derive(Debug, Default)]
pub struct TabWriter {
    widths: Vec<usize>,
}

const PADDING: usize = 3;
const MIN_WIDTH: usize = 6;

impl TabWriter {
    /// A writer with no remembered widths.
    pub fn new() -> TabWriter {
        TabWriter::default()
    }

    /// Renders rows (each ends with a newline), growing the remembered widths.
    pub fn render(&mut self, rows: &[Vec<String>]) -> String {
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    break;
                }
                let w = (cell.chars().count() + PADDING).max(MIN_WIDTH);
                if self.widths.len() <= i {
                    self.widths.resize(i + 1, 0);
                }
                self.widths[i] = self.widths[i].max(w);
            }
        }
        let mut out = String::new();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < row.len() {
                    for _ in cell.chars().count()..self.widths[i] {
                        out.push(' ');
                    }
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Aligns rows once.
pub fn align(rows: &[Vec<String>]) -> String {
    TabWriter::new().render(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_like_upstream() {
        let rows = vec![
            vec!["NAME".to_string(), "READY".into(), "AGE".into()],
            vec!["a".to_string(), "1/1".into(), "5s".into()],
        ];
        assert_eq!(align(&rows), "NAME   READY   AGE\na      1/1     5s\n");
    }
}
