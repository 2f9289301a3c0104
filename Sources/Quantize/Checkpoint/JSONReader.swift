import Foundation

/// A strict JSON parser (RFC 8259) producing `JSONValue`, for the files EdgeDETR reads from users.
///
/// Why not Foundation: `JSONSerialization` reads about one 17-digit double in six one or two units in
/// the last place off on Linux (see `JSONValue`), hands back `NSNumber`s whose booleans and numbers
/// must be told apart by their Objective-C type, and loses the order of object members, so that the
/// first of several errors depends on hashing; `JSONDecoder` over `JSONValue` tries each type in turn
/// and is several times slower. This reader keeps object members in file order, classifies numbers as
/// `JSONDecoder` does (a number with an exact integer value that fits in `Int` is `.integer`, so `3.0`
/// and `1e2` are integers; others are `.number`, read by `strtod`, correctly rounded), refuses what the
/// RFC refuses (trailing commas, comments, NaN, unescaped control characters, lone surrogates, invalid
/// UTF-8, anything after the value) and nests at most `maximumDepth` arrays and objects, so a hostile
/// file cannot exhaust the stack.
enum JSONReader {
    static let maximumDepth = 512

    struct Failure: Error, Equatable {
        /// What is wrong, e.g. "expected ',' or '}' after an object member".
        var message: String
        /// Byte offset in the input.
        var offset: Int

        var description: String { "\(message) at byte \(offset)" }
    }

    /// Parses one JSON value filling all of `data`.
    static func parse(_ data: Data) throws(Failure) -> JSONValue {
        try parseDocument(data) { (parser: inout Parser) throws(Failure) in try parser.value(depth: 0) }
    }

    /// Parses a JSON object filling all of `data` and returns its members in file order (a key given
    /// twice appears twice), for readers whose errors should follow the file.
    static func parseObjectMembers(_ data: Data) throws(Failure) -> [(key: String, value: JSONValue)] {
        try parseDocument(data) { (parser: inout Parser) throws(Failure) in
            guard parser.peek() == UInt8(ascii: "{") else {
                throw parser.failure(parser.atEnd ? "expected a JSON object, found the end of the input" : "the top level is not a JSON object")
            }
            return try parser.objectMembers(depth: 0)
        }
    }

    private static func parseDocument<Result>(
        _ data: Data, _ body: (inout Parser) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        guard String(validating: data, as: UTF8.self) != nil else { throw Failure(message: "not valid UTF-8", offset: 0) }
        let bytes = [UInt8](data)
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let result = try body(&parser)
        parser.skipWhitespace()
        guard parser.atEnd else { throw parser.failure("unexpected content after the JSON value") }
        return result
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }
        func failure(_ message: String) -> Failure { Failure(message: message, offset: index) }

        mutating func skipWhitespace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                index += 1
            }
        }

        mutating func expect(_ character: UInt8, _ context: String) throws(Failure) {
            guard peek() == character else { throw failure("expected '\(Character(Unicode.Scalar(character)))' \(context)") }
            index += 1
        }

        mutating func value(depth: Int) throws(Failure) -> JSONValue {
            guard let byte = peek() else { throw failure("expected a value, found the end of the input") }
            switch byte {
            case UInt8(ascii: "{"):
                var object: [String: JSONValue] = [:]
                for member in try objectMembers(depth: depth) { object[member.key] = member.value }
                return .object(object)
            case UInt8(ascii: "["):
                return .array(try array(depth: depth))
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return try number()
            default:
                throw failure("unexpected character '\(Character(Unicode.Scalar(byte)))'")
            }
        }

        mutating func objectMembers(depth: Int) throws(Failure) -> [(key: String, value: JSONValue)] {
            guard depth < JSONReader.maximumDepth else { throw failure("nested deeper than \(JSONReader.maximumDepth) levels") }
            index += 1  // {
            var members: [(key: String, value: JSONValue)] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { index += 1; return members }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw failure("expected a string key in an object") }
                let key = try string()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "after an object key")
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"), "or ',' after an object member")
                return members
            }
        }

        mutating func array(depth: Int) throws(Failure) -> [JSONValue] {
            guard depth < JSONReader.maximumDepth else { throw failure("nested deeper than \(JSONReader.maximumDepth) levels") }
            index += 1  // [
            var elements: [JSONValue] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { index += 1; return elements }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "]"), "or ',' after an array element")
                return elements
            }
        }

        mutating func literal(_ word: StaticString) throws(Failure) {
            let count = word.utf8CodeUnitCount
            let matches = index + count <= bytes.count
                && (0..<count).allSatisfy { bytes[index + $0] == word.utf8Start[$0] }
            guard matches else { throw failure("invalid literal (expected \(word))") }
            index += count
        }

        mutating func string() throws(Failure) -> String {
            index += 1  // opening quote
            var utf8: [UInt8] = []
            while true {
                guard let byte = peek() else { throw failure("unterminated string") }
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(decoding: utf8, as: UTF8.self)  // the input was validated as UTF-8
                case UInt8(ascii: "\\"):
                    index += 1
                    guard let escape = peek() else { throw failure("unterminated escape") }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hexQuad()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard peek() == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                                throw failure("unpaired UTF-16 surrogate in \\u escape")
                            }
                            index += 2
                            let low = try hexQuad()
                            guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired UTF-16 surrogate in \\u escape") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw failure("unpaired UTF-16 surrogate in \\u escape")
                        }
                        guard let character = Unicode.Scalar(scalar) else { throw failure("invalid \\u escape") }
                        utf8.append(contentsOf: Array(String(Character(character)).utf8))
                    default:
                        throw failure("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
                    }
                case 0x00..<0x20:
                    throw failure("unescaped control character in a string")
                default:
                    utf8.append(byte)
                    index += 1
                }
            }
        }

        mutating func hexQuad() throws(Failure) -> UInt32 {
            guard index + 4 <= bytes.count else { throw failure("truncated \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw failure("invalid hex digit in \\u escape")
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        /// RFC 8259's number grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
        mutating func number() throws(Failure) -> JSONValue {
            let start = index
            func digits(_ parser: inout Parser) -> Int {
                let first = parser.index
                while let byte = parser.peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { parser.index += 1 }
                return parser.index - first
            }
            if peek() == UInt8(ascii: "-") { index += 1 }
            if peek() == UInt8(ascii: "0") {
                index += 1
            } else {
                guard digits(&self) > 0 else { throw failure("invalid number") }
            }
            var isInteger = true
            if peek() == UInt8(ascii: ".") {
                index += 1
                isInteger = false
                guard digits(&self) > 0 else { throw failure("expected digits after the decimal point") }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                index += 1
                isInteger = false
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                guard digits(&self) > 0 else { throw failure("expected digits in the exponent") }
            }
            let token = String(decoding: bytes[start..<index], as: UTF8.self)
            if isInteger, let integer = Int(token) { return .integer(integer) }
            let double = token.withCString { strtod($0, nil) }
            guard double.isFinite else { throw Failure(message: "number \(token.prefix(40)) is out of range", offset: start) }
            // As JSONDecoder: an exact integer value that fits in Int is an integer (3.0, 1e2, -0.0).
            if double >= -0x1p63, double < 0x1p63, let integer = Int(exactly: double) { return .integer(integer) }
            return .number(double)
        }
    }
}
