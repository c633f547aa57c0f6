//! `TcpServer::bind` with a type that does not implement `StreamRequestHandler`.

use easynet::{JsonLines, TcpServer};

struct MyRequestHandler;

fn main() {
    let _server = TcpServer::bind("127.0.0.1:0", JsonLines::<String>::new(), MyRequestHandler);
}
