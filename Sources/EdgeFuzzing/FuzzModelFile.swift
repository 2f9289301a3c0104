import EdgeRuntime

/// Model files: read and validated (`ModelFile`), built into a `Detector` (packing, tables, arena)
/// and, when the model is small enough to run in a few milliseconds, run once on a gray image.
enum ModelFileFuzzing {
    /// Models with a larger arena are built but not run (a fuzz input must stay fast to execute).
    static let largestArenaRun = 4 << 20

    static func run(_ bytes: UnsafeRawBufferPointer, repairChecksums: Bool) {
        let model: ModelFile
        if repairChecksums {
            var copy = Array(bytes)
            copy.withUnsafeMutableBytes { repair($0) }
            guard let read = try? ModelFile(bytes: copy) else { return }
            model = read
        } else {
            guard let read = try? ModelFile(bytes: Array(bytes)) else { return }
            model = read
        }
        guard let detector = try? Detector(model: model, threads: 1) else { return }
        guard detector.workingBytes <= largestArenaRun else { return }
        let height = model.metadata.inputHeight, width = model.metadata.inputWidth
        guard let image = try? RGBImage(width: width, height: height,
                                        pixels: [UInt8](repeating: 128, count: width * height * 3)) else { return }
        guard let detections = try? detector.detect(image, threshold: 0) else { return }
        for detection in detections {
            precondition(detection.score.isFinite && detection.x0.isFinite && detection.y0.isFinite
                         && detection.x1.isFinite && detection.y1.isFinite, "non-finite detection returned without an error")
        }
    }

    /// Writes the file size, every in-bounds section's CRC and the header CRC that the bytes imply,
    /// so a mutation anywhere is judged by the parsers behind the checksums.
    static func repair(_ bytes: UnsafeMutableRawBufferPointer) {
        guard bytes.count >= ModelFileFormat.headerSize else { return }
        bytes.storeBytes(of: UInt64(bytes.count).littleEndian, toByteOffset: 32, as: UInt64.self)
        let sectionCount = Int(bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self).littleEndian)
        let tableOffset = bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self).littleEndian
        if sectionCount <= 16, tableOffset <= UInt64(bytes.count) {
            let table = Int(tableOffset)
            for section in 0..<sectionCount {
                let entry = table + section * ModelFileFormat.sectionEntrySize
                guard entry + ModelFileFormat.sectionEntrySize <= bytes.count else { break }
                let offset = bytes.loadUnaligned(fromByteOffset: entry + 8, as: UInt64.self).littleEndian
                let size = bytes.loadUnaligned(fromByteOffset: entry + 16, as: UInt64.self).littleEndian
                guard offset <= UInt64(bytes.count), size <= UInt64(bytes.count) - offset else { continue }
                let crc = modelFileCRC32(UnsafeRawBufferPointer(rebasing: bytes[Int(offset)..<Int(offset + size)]))
                bytes.storeBytes(of: crc.littleEndian, toByteOffset: entry + 24, as: UInt32.self)
            }
        }
        let header = modelFileCRC32(UnsafeRawBufferPointer(rebasing: bytes[0..<60]))
        bytes.storeBytes(of: header.littleEndian, toByteOffset: 60, as: UInt32.self)
    }
}
