//! Every event a run can emit, each produced for real on loopback: error statuses,
//! the three timeouts, a refused connection, a failing template, an oversized answer.
#![cfg(feature = "http")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{compile, event_names, run};
use courier::events::{CollectEvents, EventSink};
use courier::request::{Cookies, Executor, ExecutorOptions};
use courier::{Context, Variables};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn server_answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(response).mount(&server).await;
    server
}

#[tokio::test]
async fn error_statuses_have_their_events() {
    for (status, expected) in [
        (400, "api_http_status_code_400"),
        (403, "api_http_status_code_403"),
        (404, "api_http_status_code_404"),
        (500, "api_http_status_code_500"),
        (418, "api_http_status_code"),
        (503, "api_http_status_code"),
    ] {
        let server = server_answering(ResponseTemplate::new(status).set_body_string("nope")).await;
        let request = compile(&format!("method = \"DELETE\"\nurl = \"{}/items/1?token=abc\"\n", server.uri()));
        let outcome = run(&request, &[]).await;
        assert_eq!(outcome.status, Some(status));
        assert_eq!(event_names(&outcome), [expected], "{status}");
        let event = &outcome.events[0];
        assert_eq!(event.method, "DELETE");
        assert_eq!(event.url, format!("{}/items/1", server.uri()), "the URL without its query");
        assert_eq!(event.status, Some(status));
        assert_eq!(event.error, None);
        assert_eq!(outcome.variables["api_client_status_code"], status.to_string());
        assert_eq!(outcome.variables["api_client_response_body"], "nope");
        assert_eq!(outcome.error, None, "a response came");
    }
}

#[tokio::test]
async fn successful_statuses_have_no_event() {
    let server = server_answering(ResponseTemplate::new(204)).await;
    let outcome = run(&compile(&format!("url = \"{}/\"\n", server.uri())), &[]).await;
    assert_eq!(outcome.status, Some(204));
    assert!(outcome.events.is_empty());
}

#[tokio::test]
async fn events_go_to_the_hosts_sink() {
    let server = server_answering(ResponseTemplate::new(404)).await;
    let sink = Arc::new(CollectEvents::default());
    let executor = common::executor().with_sink(sink.clone() as Arc<dyn EventSink>);
    let request = compile(&format!("url = \"{}/missing\"\n", server.uri()));
    let outcome = executor.execute(&request, &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_eq!(sink.events(), outcome.events);
    assert_eq!(sink.events()[0].name.name(), "api_http_status_code_404");
}

/// A loopback listener whose accept queue is full: a new connection is never
/// completed, so opening one times out. (Linux drops a SYN to a full queue.)
fn listener_that_never_accepts() -> (std::net::SocketAddr, Vec<std::net::TcpStream>, tokio::net::TcpListener) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            Ok(stream) => fillers.push(stream),
            Err(_) => return (address, fillers, listener),
        }
    }
    panic!("the accept queue of a listener with backlog 0 never filled");
}

#[tokio::test]
async fn a_connection_that_cannot_be_opened_in_time_is_a_connect_timeout() {
    let (address, _fillers, _listener) = listener_that_never_accepts();
    let request = compile(&format!("url = \"http://{address}/x\"\nconnect_timeout = \"300ms\"\n"));
    let started = Instant::now();
    let outcome = run(&request, &[]).await;
    assert_eq!(event_names(&outcome), ["api_http_connect_timeout_exception"], "{outcome:?}");
    assert_eq!(outcome.status, None);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_request_that_runs_out_of_time_is_a_timeout() {
    // The server answers after 3 s; the whole request may take 300 ms.
    let server = server_answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(3))).await;
    let request = compile(&format!("url = \"{}/slow\"\ntimeout = \"300ms\"\n", server.uri()));
    let started = Instant::now();
    let outcome = run(&request, &[]).await;
    assert_eq!(event_names(&outcome), ["api_http_timeout_exception"], "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(outcome.error.as_deref().unwrap().contains("300ms"));
    let entry = &outcome.log[0];
    assert_eq!(entry.status, None);
    assert!(entry.message.contains("/slow"), "the interrupted request is logged: {entry:?}");
}

/// A server that reads the request and then says `prefix` (perhaps nothing) and
/// goes silent, keeping the connection open.
async fn silent_server(prefix: &'static [u8]) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream.write_all(prefix).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    address
}

#[tokio::test]
async fn a_server_silent_before_answering_is_a_socket_timeout() {
    let address = silent_server(b"").await;
    let request = compile(&format!("url = \"http://{address}/x\"\nread_timeout = \"300ms\"\ntimeout = \"10s\"\n"));
    let started = Instant::now();
    let outcome = run(&request, &[]).await;
    assert_eq!(event_names(&outcome), ["api_socket_timeout_exception"], "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_server_silent_in_the_middle_of_its_body_is_a_socket_timeout() {
    let address = silent_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly the first bytes").await;
    let request = compile(&format!("url = \"http://{address}/x\"\nread_timeout = \"300ms\"\ntimeout = \"10s\"\n"));
    let outcome = run(&request, &[]).await;
    assert_eq!(event_names(&outcome), ["api_socket_timeout_exception"], "{outcome:?}");
    assert_eq!(outcome.status, None, "half a response is no response");
}

#[tokio::test]
async fn a_refused_connection_is_an_api_exception() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let outcome = run(&compile(&format!("url = \"http://127.0.0.1:{port}/x?q=1\"\n")), &[]).await;
    assert_eq!(event_names(&outcome), ["api_exception"]);
    let event = &outcome.events[0];
    assert_eq!(event.url, format!("http://127.0.0.1:{port}/x"));
    assert!(event.error.as_deref().unwrap().to_lowercase().contains("refused"), "{event:?}");
    assert_eq!(outcome.status, None);
}

#[tokio::test]
async fn a_failing_template_sends_nothing() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/x\"\nbody = \"json\"\npayload = '{{\"n\": ${{toInteger(consumption)}}}}'\n",
        server.uri()
    );
    let outcome = run(&compile(&spec), &[("consumption", "lots")]).await;
    assert_eq!(event_names(&outcome), ["api_exception"]);
    let error = outcome.error.unwrap();
    // Placed at its line and column in the spec's text, where the author wrote it.
    assert!(error.starts_with("line 4, column 20: body.payload: "), "{error}");
    assert!(error.contains("\"lots\""), "{error}");
    assert!(error.contains("nothing was sent"));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_oversized_response_is_refused() {
    let server = server_answering(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 4096])).await;
    let executor = Executor::with_options(ExecutorOptions { max_response_bytes: 1024, ..common::options() });
    let request = compile(&format!("url = \"{}/big\"\n", server.uri()));
    let outcome = executor.execute(&request, &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_eq!(event_names(&outcome), ["api_exception"]);
    assert!(outcome.error.unwrap().contains("larger than the limit of 1024 bytes"));
}

#[tokio::test]
async fn a_file_that_cannot_be_read_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::path("/gone.jpg")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
    Mock::given(wiremock::matchers::method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    for (file, expected) in [
        ("/does/not/exist.bin".to_owned(), "cannot read the file /does/not/exist.bin"),
        (format!("{}/gone.jpg", server.uri()), "the server answered 404"),
    ] {
        let spec = format!(
            "method = \"POST\"\nurl = \"{}/upload\"\n[body]\ntype = \"octet-stream\"\nfile = \"{file}\"\n",
            server.uri()
        );
        let outcome = run(&compile(&spec), &[]).await;
        assert_eq!(event_names(&outcome), ["api_exception"]);
        assert!(outcome.error.as_deref().unwrap().contains(expected), "{outcome:?}");
    }
    let posts =
        server.received_requests().await.unwrap().iter().filter(|request| request.method.as_str() == "POST").count();
    assert_eq!(posts, 0, "nothing is sent");
}
