import Hub
import NIOCore
import Testing
@testable import WebSocket

/// A broadcast to WebSocket subscribers that negotiated permessage-deflate is compressed once
/// and the same bytes go to all of them.
@Suite(.timeLimit(.minutes(1)))
struct SharedCompressionTests {
    @Test func subscribersGetIdenticalCompressedPayloads() async throws {
        try await withTestServer { server in
            var clients: [RawWebSocketClient] = []
            for index in 0..<2 {
                var (client, response) = try await RawWebSocketClient.open(
                    port: server.httpPort, path: "/stomp",
                    headers: ["Sec-WebSocket-Protocol: v12.stomp", "Sec-WebSocket-Extensions: permessage-deflate"]
                )
                #expect(response.contains("permessage-deflate; server_no_context_takeover"))
                let connect = StompEncoder.encode(StompFrame(.connect, headers: ["accept-version": "1.2", "host": "h"]), version: .v1_2)
                try await client.send(.text, Array(connect.readableBytesView))
                _ = try #require(try await client.nextFrame())  // CONNECTED (small: uncompressed)
                let subscribe = StompEncoder.encode(
                    StompFrame(.subscribe, headers: ["destination": "/topic/big", "id": "same", "receipt": "r\(index)"]),
                    version: .v1_2
                )
                try await client.send(.text, Array(subscribe.readableBytesView))
                _ = try #require(try await client.nextFrame())  // RECEIPT
                clients.append(client)
            }
            let body = String(repeating: "a broadcast worth compressing. ", count: 100)
            let response = try await HTTPTestClient.request(port: server.httpPort, method: "POST", path: "/api/publish/topic/big", body: body)
            #expect(response.body.contains("\"delivered\":2"))

            var payloads: [ByteBuffer] = []
            for index in clients.indices {
                let frame = try #require(try await clients[index].nextFrame())
                #expect(frame.rsv1)
                #expect(frame.payload.readableBytes < body.utf8.count / 4)
                payloads.append(frame.payload)
                var machine = WebSocketConnectionStateMachine(
                    maxMessageSize: 1 << 20,
                    deflate: PerMessageDeflateNegotiation.negotiate(
                        offers: [WebSocketExtensionOffer(name: "permessage-deflate", parameters: [])],
                        configuration: .init()
                    )
                )
                guard case .deliver(let message) = machine.receive(frame) else {
                    Issue.record("the payload did not inflate")
                    continue
                }
                #expect(String(buffer: message.data).hasSuffix(body + "\0"))
                await clients[index].close()
            }
            #expect(payloads[0] == payloads[1])
        }
    }
}
