import Foundation
import Testing
@testable import Quantize

@Suite("JSON reader")
struct JSONReaderTests {
    private static func parse(_ text: String) throws(JSONReader.Failure) -> JSONValue { try JSONReader.parse(Data(text.utf8)) }

    /// Numbers as `JSONDecoder` reads them into `JSONValue` (the COCO reader's oracle): the same case
    /// (integer or number) and the same bits.
    @Test func numbersReadAsJSONDecoderReadsThem() throws {
        let numbers = ["0", "-0", "3", "-17", "3.0", "1e2", "1E+2", "2.0e0", "-0.0", "1.5", "0.8999999999999999",
                       "0.1", "1e-5", "6.283185307179586", "9007199254740993", "-9223372036854775808", "9223372036854775807",
                       "12345678901234567890", "1e300", "-2.5e-300", "4.9e-324", "0.30000000000000004", "123456.789e3"]
        for number in numbers {
            let ours = try Self.parse("[\(number)]")
            let decoded = try JSONDecoder().decode(JSONValue.self, from: Data("[\(number)]".utf8))
            guard case .array(let ourArray) = ours, case .array(let decodedArray) = decoded, ourArray.count == 1, decodedArray.count == 1 else {
                Issue.record("\(number): not a one-element array")
                continue
            }
            switch (ourArray[0], decodedArray[0]) {
            case (.integer(let a), .integer(let b)): #expect(a == b, "\(number)")
            case (.number(let a), .number(let b)): #expect(a.bitPattern == b.bitPattern, "\(number)")
            default: Issue.record("\(number): \(ourArray[0].summary) vs \(decodedArray[0].summary)")
            }
        }
    }

    @Test func valuesStringsAndMemberOrder() throws {
        let members = try JSONReader.parseObjectMembers(Data(#" { "b" : [true, false, null], "a": {"x": "\u00e9\ud83d\ude00\n\/"} , "b": 2 } "#.utf8))
        #expect(members.map(\.key) == ["b", "a", "b"])
        guard case .array(let flags) = members[0].value, flags.count == 3, case .bool(true) = flags[0], case .null = flags[2],
              case .object(let nested) = members[1].value, case .string(let text) = nested["x"] else {
            Issue.record("\(members)")
            return
        }
        #expect(text == "é😀\n/")
        guard case .object(let object) = try Self.parse(#"{"k": 1, "k": 2}"#), case .integer(2) = object["k"] else {
            Issue.record("the last of a repeated key should count")
            return
        }
    }

    /// What RFC 8259 refuses, and what would exhaust the stack, is an error with an offset, never a trap.
    @Test func refusesWhatTheRFCRefuses() {
        let bad = ["", " ", "[1,]", "{\"a\":1,}", "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[NaN]", "[Infinity]", "// c\n1",
                   "[\"a\nb\"]", "[\"\\x\"]", "[\"\\ud83d\"]", "[\"\\ude00\"]", "[\"\\u12\"]", "[1] 2", "{1: 2}", "{\"a\" 1}",
                   "[tru]", "[\"unterminated]", "[1e999]", "\u{FEFF}[1]", String(repeating: "[", count: 513) + String(repeating: "]", count: 513)]
        for text in bad {
            #expect(throws: JSONReader.Failure.self, "\(text.prefix(20))") { _ = try Self.parse(text) }
        }
        #expect(throws: JSONReader.Failure.self) { _ = try JSONReader.parse(Data([0x5B, 0x22, 0xC3, 0x28, 0x22, 0x5D])) }  // ["\xC3("]
        #expect(throws: JSONReader.Failure.self) { _ = try JSONReader.parseObjectMembers(Data("[1]".utf8)) }
        let deep = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { _ = try Self.parse(deep) }
        do {
            _ = try Self.parse("[1, 2 3]")
        } catch {
            #expect(error.offset == 6 && error.description.contains("byte 6"))
        }
    }
}
