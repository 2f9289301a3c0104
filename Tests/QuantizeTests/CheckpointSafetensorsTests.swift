import Foundation
import Testing
@testable import Quantize

@Suite("Checkpoint: safetensors")
struct CheckpointSafetensorsTests {
    private let name = "model.safetensors"

    // MARK: Round trips

    @Test func writerAndReaderRoundTripF32F16BF16() throws {
        // Values exactly representable in every format, so the round trip must be exact.
        let values: [Float] = [0, -0.0, 1, -2.5, 0.15625, 1024, 0.0078125, 96]
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        try writer.add("b.f16", shape: [2, 4], values: values, as: .float16)
        try writer.add("a.f32", shape: [8], values: values.map { $0 + 0.1 }, as: .float32)
        try writer.add("c.bf16", shape: [4, 2], values: values, as: .bfloat16)
        try writer.add("d.scalar", shape: [], values: [7], as: .float32)
        try writer.add("e.empty", shape: [0, 3], values: [], as: .float16)
        let file = try SafetensorsFile(data: writer.encoded(), name: name)

        #expect(file.tensorNames == ["a.f32", "b.f16", "c.bf16", "d.scalar", "e.empty"])
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.floats("a.f32") == values.map { $0 + 0.1 })
        #expect(try file.floats("b.f16") == values)
        #expect(try file.floats("c.bf16") == values)
        #expect(try file.floats("d.scalar") == [7])
        #expect(try file.floats("e.empty") == [])
        #expect(file.info("b.f16")?.dtype == .float16)
        #expect(file.info("b.f16")?.shape == [2, 4])
        #expect(file.info("c.bf16")?.shape == [4, 2])
        #expect(file.info("d.scalar")?.elementCount == 1)
        #expect(file.info("missing") == nil)
    }

    @Test func roundTripThroughDisk() throws {
        let folder = try CheckpointTemporaryFolder()
        defer { folder.remove() }
        var writer = SafetensorsWriter()
        try writer.add("w", shape: [3], values: [1, 2, 3])
        try writer.write(to: folder.file(name))
        let file = try SafetensorsFile(path: folder.file(name))
        #expect(file.name == name)
        #expect(try file.floats("w") == [1, 2, 3])
    }

    @Test func specialHalfValuesReadExactly() throws {
        let special: [Float] = [0x1p-24, -0x1p-24, 0x1.FF8p-15, 0x1p-14, 65504, .infinity, -.infinity]
        var writer = SafetensorsWriter()
        try writer.add("h", shape: [special.count + 1], values: special + [.nan], as: .float16)
        try writer.add("b", shape: [4], values: [0x1p-133, .infinity, -.infinity, .nan], as: .bfloat16)
        let file = try SafetensorsFile(data: writer.encoded(), name: name)
        let half = try file.floats("h")
        #expect(Array(half.prefix(special.count)) == special)
        #expect(half.last?.isNaN == true)
        let bfloat = try file.floats("b")
        #expect(bfloat[0] == 0x1p-133)  // a Float subnormal, representable in bfloat16
        #expect(bfloat[1] == .infinity && bfloat[2] == -.infinity && bfloat[3].isNaN)
    }

    // MARK: 16-bit conversions, exhaustively

    @Test func everyHalfBitPatternSurvivesWideningAndNarrowing() {
        var failures: [String] = []
        for bits in 0...UInt16.max {
            let value = HalfPrecision.float(fromHalfBits: bits)
            let back = HalfPrecision.halfBits(from: value)
            let survived = value.isNaN
                ? back & 0x7C00 == 0x7C00 && back & 0x3FF != 0 && back & 0x8000 == bits & 0x8000
                : back == bits
            if !survived {
                failures.append("0x\(String(bits, radix: 16)) -> \(value) -> 0x\(String(back, radix: 16))")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) half patterns changed, e.g. \(failures.prefix(4))")
        #expect(HalfPrecision.float(fromHalfBits: 0x0001) == 0x1p-24)
        #expect(HalfPrecision.float(fromHalfBits: 0x03FF) == 0x1.FF8p-15)
        #expect(HalfPrecision.float(fromHalfBits: 0x3C00) == 1)
        #expect(HalfPrecision.float(fromHalfBits: 0x7BFF) == 65504)
        #expect(HalfPrecision.float(fromHalfBits: 0x8000).sign == .minus)
    }

    @Test func halfNarrowingRoundsToNearestEven() {
        #expect(HalfPrecision.halfBits(from: 1 + 0x1p-11) == 0x3C00)  // tie, even stays
        #expect(HalfPrecision.halfBits(from: 1 + 3 * 0x1p-11) == 0x3C02)  // tie, odd rounds up
        #expect(HalfPrecision.halfBits(from: 1 + 0x1p-11 + 0x1p-20) == 0x3C01)  // above the tie
        #expect(HalfPrecision.halfBits(from: 65519) == 0x7BFF)
        #expect(HalfPrecision.halfBits(from: 65520) == 0x7C00)  // rounds up to infinity
        #expect(HalfPrecision.halfBits(from: 1e10) == 0x7C00)
        #expect(HalfPrecision.halfBits(from: 0x1p-25) == 0x0000)  // tie between 0 and 2^-24
        #expect(HalfPrecision.halfBits(from: 0x1.8p-25) == 0x0001)
        #expect(HalfPrecision.halfBits(from: 0x1p-26) == 0x0000)
        #expect(HalfPrecision.halfBits(from: -0x1.FFCp-15) == 0x8400)  // carries into the smallest normal
        #expect(HalfPrecision.halfBits(from: 3 * 0x1p-25) == 0x0002)  // 1.5 ulp tie rounds to even 2
    }

    @Test func everyBFloat16BitPatternSurvivesWideningAndNarrowing() {
        var failures: [String] = []
        for bits in 0...UInt16.max {
            let value = HalfPrecision.float(fromBFloat16Bits: bits)
            let back = HalfPrecision.bfloat16Bits(from: value)
            let survived = value.isNaN ? HalfPrecision.float(fromBFloat16Bits: back).isNaN : back == bits
            if !survived {
                failures.append("0x\(String(bits, radix: 16)) -> \(value) -> 0x\(String(back, radix: 16))")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) bfloat16 patterns changed, e.g. \(failures.prefix(4))")
        #expect(HalfPrecision.bfloat16Bits(from: 1 + 0x1p-8) == 0x3F80)
        #expect(HalfPrecision.bfloat16Bits(from: 1 + 3 * 0x1p-8) == 0x3F82)
        #expect(HalfPrecision.bfloat16Bits(from: .greatestFiniteMagnitude) == 0x7F80)
    }

    // MARK: Corrupt containers

    @Test func fileShorterThanTheLengthPrefix() {
        expectCheckpointError(.fileTooShort(file: name, size: 5), naming: name, mentioning: "5 bytes") {
            _ = try SafetensorsFile(data: Data([1, 2, 3, 4, 5]), name: name)
        }
    }

    @Test func headerLengthPastEndOfFile() {
        let data = checkpointRawSafetensors(header: "{}", dataBytes: 0, declaredHeaderLength: 9_000_000)
        expectCheckpointError(
            .headerPastEndOfFile(file: name, headerLength: 9_000_000, fileSize: 10), naming: name,
            mentioning: "header length 9000000 past end of file (10 bytes)"
        ) {
            _ = try SafetensorsFile(data: data, name: name)
        }
        let huge = checkpointRawSafetensors(header: "{}", dataBytes: 0, declaredHeaderLength: UInt64.max)
        expectCheckpointError(
            .headerPastEndOfFile(file: name, headerLength: UInt64.max, fileSize: 10), naming: name,
            mentioning: "past end of file"
        ) {
            _ = try SafetensorsFile(data: huge, name: name)
        }
    }

    @Test func headerOverTheSizeLimit() {
        let length = UInt64(SafetensorsFile.maximumHeaderLength + 1)
        let data = checkpointRawSafetensors(header: "", dataBytes: Int(length), declaredHeaderLength: length)
        expectCheckpointError(
            .headerTooLarge(file: name, headerLength: length, limit: SafetensorsFile.maximumHeaderLength),
            naming: name, mentioning: "exceeds the limit"
        ) {
            _ = try SafetensorsFile(data: data, name: name)
        }
    }

    @Test func headerThatIsNotAJSONObject() throws {
        for header in ["{\"a\": ", "[1, 2]", "\"text\""] {
            do {
                _ = try SafetensorsFile(data: checkpointRawSafetensors(header: header, dataBytes: 0), name: name)
                Issue.record("header \(header) accepted")
            } catch {
                guard case .headerNotJSON(let file, _) = error else {
                    Issue.record("header \(header): \(error)")
                    continue
                }
                #expect(file == name)
                #expect(error.description.hasPrefix("model.safetensors: header is not a JSON object"))
                #expect(!error.description.contains("\n"))
            }
        }
        var invalidUTF8 = checkpointRawSafetensors(header: "{\"a\":1}", dataBytes: 0)
        invalidUTF8[10] = 0xFF
        expectCheckpointError(.headerNotJSON(file: name, reason: "not valid UTF-8"), naming: name, mentioning: "UTF-8") {
            _ = try SafetensorsFile(data: invalidUTF8, name: name)
        }
    }

    @Test func dataOffsetsPastTheDataSection() {
        let header = #"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#
        let data = checkpointRawSafetensors(header: header, dataBytes: 12)
        expectCheckpointError(
            .dataOffsetsOutOfRange(file: name, tensor: "w", begin: 0, end: 16, dataSize: 12),
            naming: name, mentioning: "tensor 'w' data_offsets [0, 16]"
        ) {
            _ = try SafetensorsFile(data: data, name: name)
        }
        let reversed = #"{"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}}"#
        expectCheckpointError(
            .dataOffsetsOutOfRange(file: name, tensor: "w", begin: 8, end: 4, dataSize: 12),
            naming: name, mentioning: "'w'"
        ) {
            _ = try SafetensorsFile(data: checkpointRawSafetensors(header: reversed, dataBytes: 12), name: name)
        }
    }

    @Test func truncatedFileIsCaughtByTheOffsets() throws {
        var writer = SafetensorsWriter()
        try writer.add("a", shape: [2], values: [1, 2])
        try writer.add("b", shape: [3], values: [1, 2, 3])
        let whole = try writer.encoded()
        let truncated = whole.prefix(whole.count - 5)
        expectCheckpointError(
            .dataOffsetsOutOfRange(file: name, tensor: "b", begin: 8, end: 20, dataSize: 15),
            naming: name, mentioning: "'b'"
        ) {
            _ = try SafetensorsFile(data: truncated, name: name)
        }
    }

    @Test func overlappingTensors() {
        let header = #"""
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
        """#
        expectCheckpointError(.overlappingTensors(file: name, first: "a", second: "b"), naming: name,
                              mentioning: "tensors 'a' and 'b' overlap") {
            _ = try SafetensorsFile(data: checkpointRawSafetensors(header: header, dataBytes: 12), name: name)
        }
    }

    @Test func byteCountDisagreeingWithShape() {
        let header = #"{"w": {"dtype": "F16", "shape": [3, 2], "data_offsets": [0, 8]}}"#
        expectCheckpointError(.byteCountMismatch(file: name, tensor: "w", byteCount: 8, expected: 12), naming: name,
                              mentioning: "tensor 'w' has 8 bytes") {
            _ = try SafetensorsFile(data: checkpointRawSafetensors(header: header, dataBytes: 8), name: name)
        }
    }

    @Test func shapeWhoseSizeOverflows() {
        let header = #"{"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}}"#
        expectCheckpointError(.shapeOverflow(file: name, tensor: "w", shape: [4_611_686_018_427_387_904, 4]),
                              naming: name, mentioning: "overflows") {
            _ = try SafetensorsFile(data: checkpointRawSafetensors(header: header, dataBytes: 0), name: name)
        }
        // Element count fits, byte count does not.
        let bytes = #"{"w": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 0]}}"#
        expectCheckpointError(.shapeOverflow(file: name, tensor: "w", shape: [2_305_843_009_213_693_952]),
                              naming: name, mentioning: "overflows") {
            _ = try SafetensorsFile(data: checkpointRawSafetensors(header: bytes, dataBytes: 0), name: name)
        }
    }

    @Test func malformedTensorEntries() {
        let cases: [(String, String, String)] = [
            (#"{"w": {"shape": [1], "data_offsets": [0, 4]}}"#, "dtype", "is missing"),
            (#"{"w": {"dtype": 3, "shape": [1], "data_offsets": [0, 4]}}"#, "dtype", "is not a string"),
            (#"{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, "shape",
             "has -1, expected a non-negative integer"),
            (#"{"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}"#, "shape",
             "has 1.5, expected a non-negative integer"),
            (#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}"#, "data_offsets",
             "is not a pair of non-negative integers"),
            (#"{"w": {"dtype": "F32", "shape": [1]}}"#, "data_offsets", "is missing"),
        ]
        for (header, field, problem) in cases {
            expectCheckpointError(.invalidTensorEntry(file: name, tensor: "w", field: field, problem: problem),
                                  naming: name, mentioning: "tensor 'w' field '\(field)'") {
                _ = try SafetensorsFile(data: checkpointRawSafetensors(header: header, dataBytes: 4), name: name)
            }
        }
        let metadata = #"{"__metadata__": {"format": 1}}"#
        expectCheckpointError(.invalidMetadata(file: name, key: "format"), naming: name, mentioning: "'format'") {
            _ = try SafetensorsFile(data: checkpointRawSafetensors(header: metadata, dataBytes: 0), name: name)
        }
    }

    @Test func unknownAndUnreadableDTypes() throws {
        let unknown = #"{"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}"#
        expectCheckpointError(.unknownDType(file: name, tensor: "w", dtype: "F8_E4M3"), naming: name,
                              mentioning: "unknown dtype 'F8_E4M3'") {
            _ = try SafetensorsFile(data: checkpointRawSafetensors(header: unknown, dataBytes: 1), name: name)
        }
        let integers = #"""
        {"ids": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]},
         "mask": {"dtype": "BOOL", "shape": [3], "data_offsets": [16, 19]},
         "wide": {"dtype": "F64", "shape": [1], "data_offsets": [24, 32]}}
        """#
        let file = try SafetensorsFile(data: checkpointRawSafetensors(header: integers, dataBytes: 32), name: name)
        #expect(file.info("ids")?.dtype == .int64)
        #expect(file.info("mask")?.dtype == .bool)
        expectCheckpointError(.unsupportedDType(file: name, tensor: "ids", dtype: .int64), naming: name,
                              mentioning: "tensor 'ids' has dtype I64, expected F32, F16 or BF16") {
            _ = try file.floats("ids")
        }
        expectCheckpointError(.unsupportedDType(file: name, tensor: "wide", dtype: .float64), naming: name,
                              mentioning: "dtype F64") {
            _ = try file.floats("wide")
        }
    }

    @Test func missingTensor() throws {
        var writer = SafetensorsWriter()
        try writer.add("present", shape: [1], values: [1])
        let file = try SafetensorsFile(data: writer.encoded(), name: name)
        expectCheckpointError(.missingTensor(file: name, tensor: "model.encoder.layers.0.fc1.weight"), naming: name,
                              mentioning: "missing tensor 'model.encoder.layers.0.fc1.weight'") {
            _ = try file.floats("model.encoder.layers.0.fc1.weight")
        }
    }

    @Test func writerRefusesInconsistentInput() throws {
        var writer = SafetensorsWriter()
        expectCheckpointError(.valueCountMismatch(file: name, tensor: "w", count: 5, expected: 6), naming: name,
                              mentioning: "has 5 values") {
            try writer.add("w", shape: [2, 3], values: [1, 2, 3, 4, 5])
        }
        try writer.add("w", shape: [1], values: [1])
        expectCheckpointError(.duplicateTensor(file: name, tensor: "w"), naming: name, mentioning: "added twice") {
            try writer.add("w", shape: [1], values: [2])
        }
        expectCheckpointError(.unwritableDType(file: name, tensor: "i", dtype: .int8), naming: name,
                              mentioning: "as I8") {
            try writer.add("i", shape: [1], values: [2], as: .int8)
        }
    }
}
