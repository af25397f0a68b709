//! Reads that take what is already buffered from the server, without a
//! future: one packet, one borrowed payload, or a run of whole row
//! packets copied to the client (`wire::run`). Each returns "nothing"
//! whenever the usual `read_packet` path must decide (answers mapped back
//! to logical database names, a packet not buffered whole).
//!
//! Owns: those buffered shortcuts. Must not change what `read_packet`
//! would return.

use super::BackendConn;
use crate::error::Result;
use crate::wire::codec::Packet;
use crate::wire::packets::{is_err, is_terminator};
use crate::wire::PacketStream;

impl BackendConn {
    /// The next packet of the answer when it is already buffered whole,
    /// without a future (a merge reads most rows so): `Ok(None)` when it
    /// must be read with [`BackendConn::read_packet`]. The same packets as
    /// `read_packet`.
    pub fn buffered_packet(&mut self) -> Result<Option<Packet>> {
        loop {
            match self.stream.buffered_packet() {
                Ok(Some(p)) => {
                    if let Some(p) = self.map_answer(p) {
                        return Ok(Some(p));
                    }
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.lost(e)),
            }
        }
    }

    /// The next packet of the answer, borrowed, when it is buffered whole
    /// and needs no mapping back of database names: `take` decides from
    /// the payload whether it is consumed (as [`BackendConn::read_packet`]
    /// would have returned it) and what to answer. `None`: nothing
    /// suitable buffered, or declined (read it the usual way). Lets a
    /// merge copy rows it passes on unchanged without making a packet of
    /// each.
    pub fn take_buffered_payload<R>(&mut self, take: impl FnOnce(&[u8]) -> Option<R>) -> Option<R> {
        if self.answer.is_some() {
            return None;
        }
        self.stream.take_buffered_payload(take)
    }

    /// The payload [`BackendConn::take_buffered_payload`] would show,
    /// borrowed and left in place: a merge compares the next rows of
    /// several connections before it takes one
    /// ([`BackendConn::skip_buffered_payload`]).
    #[inline(always)]
    pub fn peek_buffered_payload(&self) -> Option<&[u8]> {
        if self.answer.is_some() {
            return None;
        }
        self.stream.peek_buffered_payload()
    }

    /// Consumes the payload [`BackendConn::peek_buffered_payload`] showed,
    /// as [`BackendConn::read_packet`] would have.
    pub fn skip_buffered_payload(&mut self) {
        if self.answer.is_none() {
            self.stream.skip_buffered_payload();
        }
    }

    /// Copies the rows already buffered whole to `client`, numbered from
    /// `*seq` on ([`crate::wire::run`]): what [`BackendConn::read_packet`]
    /// would return next, up to a terminator, ERR, multi-packet row, partial
    /// packet or `client`'s flush mark. Returns the rows moved (0: read the
    /// next packet; always so while answers are mapped back to logical
    /// database names).
    pub fn forward_buffered_rows<T>(
        &mut self,
        client: &mut PacketStream<T>,
        seq: &mut u8,
    ) -> usize {
        if self.answer.is_some() {
            return 0;
        }
        self.stream
            .move_run_to(client, seq, |p| !is_terminator(p) && !is_err(p))
    }
}
