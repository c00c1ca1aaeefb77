//! The endpoint's TCP connections: acknowledging each segment at once.
//!
//! The official Rust client (`kurrentdb`, through hyper-util's `HttpConnector`) does not switch
//! Nagle's algorithm off on its sockets. A call writes several small frames (HEADERS, then DATA
//! with the request, then the end of the stream), so the client's kernel holds the second frame
//! until the first is acknowledged; and Linux delays an acknowledgement by up to 40 ms when it
//! expects to send it with an answer, which the server only has once the whole request arrived.
//! Every call then waited for the delayed-ACK timer: with one client, 23 calls a second (about
//! 43 ms each) on an idle machine. The server cannot change the client's sockets, so it
//! acknowledges at once instead: after every read that brought bytes it asks for quick
//! acknowledgements again (`TCP_QUICKACK`, which the kernel leaves again on its own, hence after
//! every read). Clients that do switch Nagle off (the Python and Node ones, tonic) are not
//! affected, but for one system call per read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// An accepted connection that acknowledges what it receives at once (see the module).
#[derive(Debug)]
pub struct QuickAck(TcpStream);

impl QuickAck {
    pub fn new(stream: TcpStream) -> Self {
        Self(stream)
    }

    /// Whether the socket is in quick-acknowledgement mode now (for tests).
    pub fn quickack(&self) -> io::Result<bool> {
        socket2::SockRef::from(&self.0).tcp_quickack()
    }

    fn acknowledge_at_once(&self) {
        // A failure only means acknowledgements may be delayed again: nothing to report per read.
        let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.0).poll_read(context, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.acknowledge_at_once();
        }
        read
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(context, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(context, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(context)
    }
}

impl Connected for QuickAck {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn every_read_that_brings_bytes_asks_for_quick_acknowledgements_again() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let mut client = TcpStream::connect(address).await.expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        let mut server = QuickAck::new(accepted);
        for round in 0..3u8 {
            // Given the socket out of quick-acknowledgement mode (as the kernel leaves it once the
            // server answers),
            socket2::SockRef::from(&server.0)
                .set_tcp_quickack(false)
                .expect("switch off");
            assert!(!server.quickack().expect("read the option"));
            // when a request's bytes are read,
            client.write_all(&[round; 16]).await.expect("write");
            let mut request = [0u8; 16];
            server.read_exact(&mut request).await.expect("read");
            assert_eq!(request, [round; 16]);
            // then the socket acknowledges at once again.
            assert!(server.quickack().expect("read the option"), "round {round}");
            // And writes pass through unchanged.
            server.write_all(&[round; 4]).await.expect("answer");
            let mut answer = [0u8; 4];
            client
                .read_exact(&mut answer)
                .await
                .expect("read the answer");
            assert_eq!(answer, [round; 4]);
        }
    }
}
