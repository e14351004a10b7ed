//! One term's postings in a segment, merged with a block of candidates.

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::BlockSegmentPostings;
use tantivy::query::Bm25Weight;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Score, SegmentReader, Term};

use super::BLOCK;

/// One term's postings, read a block at a time, and where in the block the merge stands.
pub(super) struct List {
    pub postings: BlockSegmentPostings,
    pub at: usize,
    pub scoring: Option<(Bm25Weight, FieldNormReader)>,
}

impl List {
    /// The term's postings in the segment, scored by `weight` times `boost` if given; `None`
    /// when no document of the segment has it.
    pub(super) fn open(
        segment: &SegmentReader,
        term: &Term,
        weight: Option<&Bm25Weight>,
        boost: Score,
    ) -> tantivy::Result<Option<Self>> {
        let record = match weight {
            Some(_) => IndexRecordOption::WithFreqs,
            None => IndexRecordOption::Basic,
        };
        let inverted = segment.inverted_index(term.field())?;
        let Some(postings) = inverted.read_block_postings(term, record)? else {
            return Ok(None);
        };
        let scoring = match weight {
            Some(weight) => Some((
                weight.boost_by(boost),
                segment.get_fieldnorms_reader(term.field())?,
            )),
            None => None,
        };
        Ok(Some(Self {
            postings,
            at: 0,
            scoring,
        }))
    }

    /// The term's score in `doc`, which has it `freq` times.
    pub(super) fn score(&self, doc: DocId, freq: u32) -> Score {
        match &self.scoring {
            Some((weight, norms)) => weight.score(norms.fieldnorm_id(doc), freq),
            None => 0.0,
        }
    }

    /// Marks which of `lead` (sorted, at most a block) the term has, with how often, and moves
    /// past them. Against a list about as dense, a merge without branches on the data; against
    /// a much denser one, a jump to each candidate.
    pub(super) fn mark(
        &mut self,
        lead: &[DocId],
        found: &mut [bool; BLOCK],
        freqs: &mut [u32; BLOCK],
    ) {
        let (Some(&first), Some(&last)) = (lead.first(), lead.last()) else {
            return;
        };
        let mut i = 0;
        while i < lead.len() {
            let docs = self.postings.docs();
            if self.at >= docs.len() {
                // This block is behind the candidates: jump to the one that may hold the next.
                if docs.is_empty() {
                    return;
                }
                self.at = self.postings.seek(lead[i]);
                if self.at >= self.postings.docs().len() {
                    return;
                }
                continue;
            }
            // Much denser: eight times the documents per id of the candidates' block.
            let rest = (docs.len() - self.at) as u64;
            let span = u64::from(docs[docs.len() - 1] - docs[self.at]);
            if rest >= 16 && rest * u64::from(last - first) > 8 * lead.len() as u64 * span {
                for (n, &doc) in lead.iter().enumerate().skip(i) {
                    if self.reach(doc) {
                        found[n] = true;
                        freqs[n] = self.freq();
                    }
                }
                return;
            }
            let ones = [1; BLOCK];
            let freq_of = match self.scoring {
                Some(_) if self.postings.freqs().len() >= docs.len() => self.postings.freqs(),
                _ => &ones,
            };
            let mut j = self.at;
            while i < lead.len() && j < docs.len() {
                let (a, b) = (lead[i], docs[j]);
                let same = a == b;
                found[i] |= same;
                freqs[i] = std::hint::select_unpredictable(same, freq_of[j], freqs[i]);
                i += usize::from(a <= b);
                j += usize::from(b <= a);
            }
            self.at = j;
        }
    }

    /// How often the document it stands on has the term.
    pub(super) fn freq(&self) -> u32 {
        match self.scoring {
            Some(_) => self.postings.freq(self.at),
            None => 1,
        }
    }

    /// Moves to the first document at or after `target`; answers whether it is `target`.
    /// Never moves back.
    #[inline]
    pub(super) fn reach(&mut self, target: DocId) -> bool {
        let docs = self.postings.docs();
        match docs.last() {
            Some(&last) if last >= target => {
                let rest = &docs[self.at.min(docs.len())..];
                self.at += rest.partition_point(|&doc| doc < target);
            }
            Some(_) => self.at = self.postings.seek(target),
            None => return false,
        }
        self.postings.docs().get(self.at) == Some(&target)
    }
}
