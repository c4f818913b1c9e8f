import NIOCore

/// Writes the few client frames the benchmark sends (STOMP 1.2).
enum StompWriter {
    static func connect(dialect: ServerDialect, into buffer: inout ByteBuffer) {
        buffer.writeString("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n")
        if dialect == .rabbitmq { buffer.writeString("login:guest\npasscode:guest\n") }
        buffer.writeString("\n\0")
    }

    static func subscribe(id: Int, destination: String, receipt: Int, into buffer: inout ByteBuffer) {
        buffer.writeString("SUBSCRIBE\nid:\(id)\ndestination:\(destination)\nack:auto\nreceipt:r\(receipt)\n\n\0")
    }

    /// A SEND frame; the destination bytes are pre-encoded once per topic by the caller.
    static func send(
        destinationHeader: [UInt8],
        receipt: Int?,
        publisher: Int,
        sequence: UInt64,
        timestamp: UInt64,
        bodySize: Int,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeBytes(destinationHeader)
        if let receipt {
            buffer.writeString("receipt:r\(receipt)\n")
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
        MessageBody.write(publisher: publisher, sequence: sequence, timestamp: timestamp, size: bodySize, into: &buffer)
        buffer.writeInteger(UInt8(0))
    }

    /// `SEND\ndestination:<d>\ncontent-type:text/plain\n` for a topic.
    static func sendHeader(destination: String) -> [UInt8] {
        Array("SEND\ndestination:\(destination)\ncontent-type:text/plain\n".utf8)
    }
}
