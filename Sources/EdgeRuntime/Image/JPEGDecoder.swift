/// Baseline and extended-sequential Huffman JPEG decoding (ITU T.81), 8-bit, gray or three
/// components, sampling factors 1 or 2, restart intervals, producing the same RGB8 as
/// PIL's `Image.open(path).convert("RGB")`, which decodes through libjpeg-turbo with its
/// defaults: islow IDCT (JPEGIDCT.swift), fancy upsampling and fixed-point YCbCr conversion
/// (JPEGColor.swift).
///
/// Progressive, lossless, hierarchical and arithmetic-coded files, 12-bit samples and CMYK are
/// refused with an error naming what they use.

/// Position in a block of each coefficient in the order they are stored (zig-zag).
private let zigZagToNatural: [Int] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]

private let markerSOF0: UInt8 = 0xC0
private let markerSOF1: UInt8 = 0xC1
private let markerDHT: UInt8 = 0xC4
private let markerSOI: UInt8 = 0xD8
private let markerEOI: UInt8 = 0xD9
private let markerSOS: UInt8 = 0xDA
private let markerDQT: UInt8 = 0xDB
private let markerDRI: UInt8 = 0xDD
private let markerAPP0: UInt8 = 0xE0
private let markerAPP14: UInt8 = 0xEE

/// One image component as the frame header declares it, plus its decoded samples.
private struct JPEGComponent {
    var identifier: Int
    var horizontalFactor: Int
    var verticalFactor: Int
    var quantizationTable: Int
    /// Blocks per row and rows of blocks in `samples` (whole MCUs, so at least what is coded).
    var storedBlocksAcross = 0
    var storedBlocksDown = 0
    /// libjpeg's downsampled_width and downsampled_height.
    var width = 0
    var height = 0
    var samples: [UInt8] = []
    var isDecoded = false
}

/// The decoder's state while it walks the markers of one file.
private struct JPEGDecoder {
    let bytes: UnsafeRawBufferPointer
    var position = 2
    var quantizationTables: [[Int]?] = [nil, nil, nil, nil]
    var dcTables: [JPEGHuffmanTable?] = [nil, nil, nil, nil]
    var acTables: [JPEGHuffmanTable?] = [nil, nil, nil, nil]
    var restartInterval = 0
    var sawJFIF = false
    var adobeTransform: Int?
    var components: [JPEGComponent] = []
    var width = 0
    var height = 0
    var maximumHorizontalFactor = 1
    var maximumVerticalFactor = 1
    var hasFrame = false

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func decode() throws(ImageError) -> RGBImage {
        while true {
            // Markers may be preceded by fill bytes 0xFF; stray bytes are skipped as libjpeg does.
            while position < bytes.count && bytes[position] != 0xFF { position += 1 }
            while position < bytes.count && bytes[position] == 0xFF { position += 1 }
            guard position < bytes.count else {
                // A file cut after its last scan still holds the whole picture; libjpeg accepts it.
                if hasFrame && components.allSatisfy({ $0.isDecoded }) { return try finish() }
                throw hasFrame ? .jpegEntropyDataEndsEarly : .jpegMissingImageData
            }
            let marker = bytes[position]
            position += 1
            switch marker {
            case markerEOI:
                guard hasFrame, components.allSatisfy({ $0.isDecoded }) else { throw .jpegMissingImageData }
                return try finish()
            case markerSOI:
                throw .jpegInvalidSegment(marker: marker, reason: "second start-of-image marker")
            case 0xD0...0xD7, 0x01:
                continue  // stray RSTn or TEM: no payload, nothing to do
            default:
                break
            }
            guard position + 2 <= bytes.count else { throw .jpegSegmentTruncated(marker: marker) }
            let length = Int(bytes[position]) << 8 | Int(bytes[position + 1])
            guard length >= 2 else {
                throw .jpegInvalidSegment(marker: marker, reason: "length \(length) is below 2")
            }
            guard length <= bytes.count - position else { throw .jpegSegmentTruncated(marker: marker) }
            let segment = UnsafeRawBufferPointer(rebasing: bytes[(position + 2)..<(position + length)])
            position += length
            switch marker {
            case markerSOF0, markerSOF1: try readFrame(segment, marker: marker)
            case 0xC2: throw .jpegUnsupportedProcess(process: "progressive DCT (SOF2)")
            case 0xC3: throw .jpegUnsupportedProcess(process: "lossless (SOF3)")
            case 0xC5, 0xC6, 0xC7: throw .jpegUnsupportedProcess(process: "hierarchical (SOF\(marker - 0xC0))")
            case 0xC8: throw .jpegUnsupportedProcess(process: "reserved JPG extension (SOF8)")
            case 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
                throw .jpegUnsupportedProcess(process: "arithmetic coding (SOF\(marker - 0xC0))")
            case 0xCC: throw .jpegUnsupportedProcess(process: "arithmetic coding (DAC)")
            case markerDHT: try readHuffmanTables(segment)
            case markerDQT: try readQuantizationTables(segment)
            case markerDRI:
                guard segment.count == 2 else {
                    throw .jpegInvalidSegment(marker: marker, reason: "length \(length) is not 4")
                }
                restartInterval = Int(segment[0]) << 8 | Int(segment[1])
            case markerSOS: try readScan(segment)
            case markerAPP0:
                if segment.count >= 5 && Array(segment.prefix(5)) == [0x4A, 0x46, 0x49, 0x46, 0x00] { sawJFIF = true }
            case markerAPP14:
                if segment.count >= 12 && Array(segment.prefix(5)) == [0x41, 0x64, 0x6F, 0x62, 0x65] {
                    adobeTransform = Int(segment[11])
                }
            default:
                continue  // APPn, COM, DNL after the frame, and others carry nothing we need
            }
        }
    }

    private mutating func readFrame(_ segment: UnsafeRawBufferPointer, marker: UInt8) throws(ImageError) {
        guard !hasFrame else { throw .jpegInvalidSegment(marker: marker, reason: "second frame header") }
        guard segment.count >= 6 else { throw .jpegInvalidSegment(marker: marker, reason: "frame header too short") }
        let precision = Int(segment[0])
        guard precision == 8 else { throw .jpegUnsupportedPrecision(bits: precision) }
        height = Int(segment[1]) << 8 | Int(segment[2])
        width = Int(segment[3]) << 8 | Int(segment[4])
        guard height != 0 else { throw .jpegUnsupportedProcess(process: "height defined later by a DNL marker") }
        _ = try rgbByteCount(width: width, height: height)
        let count = Int(segment[5])
        guard count == 1 || count == 3 else { throw .jpegUnsupportedComponentCount(count: count) }
        guard segment.count == 6 + 3 * count else {
            throw .jpegInvalidSegment(marker: marker, reason: "length does not match \(count) components")
        }
        for index in 0..<count {
            let identifier = Int(segment[6 + index * 3])
            let horizontal = Int(segment[7 + index * 3] >> 4)
            let vertical = Int(segment[7 + index * 3] & 0x0F)
            let table = Int(segment[8 + index * 3])
            guard (1...2).contains(horizontal), (1...2).contains(vertical) else {
                throw .jpegUnsupportedSampling(component: identifier, horizontal: horizontal, vertical: vertical)
            }
            guard table <= 3 else {
                throw .jpegInvalidSegment(marker: marker, reason: "component \(identifier) uses quantization table \(table)")
            }
            guard !components.contains(where: { $0.identifier == identifier }) else {
                throw .jpegInvalidSegment(marker: marker, reason: "component \(identifier) is declared twice")
            }
            components.append(JPEGComponent(
                identifier: identifier, horizontalFactor: horizontal, verticalFactor: vertical, quantizationTable: table))
        }
        // A single component is coded one block per MCU whatever its declared factors.
        if count == 1 {
            components[0].horizontalFactor = 1
            components[0].verticalFactor = 1
        }
        maximumHorizontalFactor = components.map { $0.horizontalFactor }.max() ?? 1
        maximumVerticalFactor = components.map { $0.verticalFactor }.max() ?? 1
        let mcusAcross = (width + 8 * maximumHorizontalFactor - 1) / (8 * maximumHorizontalFactor)
        let mcusDown = (height + 8 * maximumVerticalFactor - 1) / (8 * maximumVerticalFactor)
        for index in components.indices {
            let component = components[index]
            components[index].width = (width * component.horizontalFactor + maximumHorizontalFactor - 1) / maximumHorizontalFactor
            components[index].height = (height * component.verticalFactor + maximumVerticalFactor - 1) / maximumVerticalFactor
            components[index].storedBlocksAcross = mcusAcross * component.horizontalFactor
            components[index].storedBlocksDown = mcusDown * component.verticalFactor
            // `samples` grows as the scans deliver rows of blocks (growSamples): a header claiming a
            // huge image costs nothing until its entropy-coded data arrives.
        }
        hasFrame = true
    }

    private mutating func readHuffmanTables(_ segment: UnsafeRawBufferPointer) throws(ImageError) {
        var offset = 0
        while offset < segment.count {
            guard segment.count - offset >= 17 else {
                throw .jpegInvalidSegment(marker: markerDHT, reason: "table header is cut short")
            }
            let tableClass = Int(segment[offset] >> 4)
            let identifier = Int(segment[offset] & 0x0F)
            guard tableClass <= 1, identifier <= 3 else {
                throw .jpegInvalidSegment(marker: markerDHT, reason: "table class \(tableClass) id \(identifier)")
            }
            var counts = [Int]()
            for length in 0..<16 { counts.append(Int(segment[offset + 1 + length])) }
            let valueCount = counts.reduce(0, +)
            guard valueCount <= 256, segment.count - offset - 17 >= valueCount else {
                throw .jpegInvalidSegment(marker: markerDHT, reason: "table declares \(valueCount) values")
            }
            let values = Array(segment[(offset + 17)..<(offset + 17 + valueCount)])
            let table = try JPEGHuffmanTable(counts: counts, values: values, marker: markerDHT)
            if tableClass == 0 { dcTables[identifier] = table } else { acTables[identifier] = table }
            offset += 17 + valueCount
        }
    }

    private mutating func readQuantizationTables(_ segment: UnsafeRawBufferPointer) throws(ImageError) {
        var offset = 0
        while offset < segment.count {
            let precision = Int(segment[offset] >> 4)
            let identifier = Int(segment[offset] & 0x0F)
            guard precision <= 1, identifier <= 3 else {
                throw .jpegInvalidSegment(marker: markerDQT, reason: "table precision \(precision) id \(identifier)")
            }
            let entryBytes = precision == 0 ? 1 : 2
            guard segment.count - offset - 1 >= 64 * entryBytes else {
                throw .jpegInvalidSegment(marker: markerDQT, reason: "table \(identifier) is cut short")
            }
            var table = [Int](repeating: 0, count: 64)
            for index in 0..<64 {
                let at = offset + 1 + index * entryBytes
                let value = precision == 0 ? Int(segment[at]) : Int(segment[at]) << 8 | Int(segment[at + 1])
                table[zigZagToNatural[index]] = value
            }
            quantizationTables[identifier] = table
            offset += 1 + 64 * entryBytes
        }
    }

    /// Parses a scan header and decodes the entropy-coded data that follows it.
    private mutating func readScan(_ segment: UnsafeRawBufferPointer) throws(ImageError) {
        guard hasFrame else { throw .jpegMissing(what: "a frame header (SOF) before its first scan") }
        guard segment.count >= 1 else { throw .jpegInvalidSegment(marker: markerSOS, reason: "empty scan header") }
        let count = Int(segment[0])
        guard count >= 1, count <= components.count, segment.count == 4 + 2 * count else {
            throw .jpegInvalidSegment(marker: markerSOS, reason: "scan header for \(count) components")
        }
        var scanComponents = [Int]()
        var scanDCTables = [JPEGHuffmanTable]()
        var scanACTables = [JPEGHuffmanTable]()
        for index in 0..<count {
            let identifier = Int(segment[1 + index * 2])
            guard let componentIndex = components.firstIndex(where: { $0.identifier == identifier }),
                !scanComponents.contains(componentIndex)
            else {
                throw .jpegInvalidSegment(marker: markerSOS, reason: "scan names unknown or repeated component \(identifier)")
            }
            let dc = Int(segment[2 + index * 2] >> 4)
            let ac = Int(segment[2 + index * 2] & 0x0F)
            guard dc <= 3, let dcTable = dcTables[dc] else { throw .jpegMissing(what: "Huffman table DC \(dc) used by a scan") }
            guard ac <= 3, let acTable = acTables[ac] else { throw .jpegMissing(what: "Huffman table AC \(ac) used by a scan") }
            let quantization = components[componentIndex].quantizationTable
            guard quantizationTables[quantization] != nil else {
                throw .jpegMissing(what: "quantization table \(quantization) used by component \(identifier)")
            }
            scanComponents.append(componentIndex)
            scanDCTables.append(dcTable)
            scanACTables.append(acTable)
        }
        let spectralStart = segment[1 + count * 2]
        let spectralEnd = segment[2 + count * 2]
        let approximation = segment[3 + count * 2]
        guard spectralStart == 0, spectralEnd == 63, approximation == 0 else {
            throw .jpegInvalidSegment(
                marker: markerSOS, reason: "spectral selection \(spectralStart)...\(spectralEnd) in a sequential file")
        }

        var scan = ScanDecoder(
            bits: JPEGBitReader(bytes: bytes, position: position),
            dcTables: scanDCTables, acTables: scanACTables)
        var blockPositions = [(component: Int, scanIndex: Int, blockX: Int, blockY: Int)]()
        let mcusAcross: Int
        let mcusDown: Int
        if count == 1 {
            // Non-interleaved: one block per MCU, only the blocks that cover the component.
            let component = components[scanComponents[0]]
            mcusAcross = (component.width + 7) / 8
            mcusDown = (component.height + 7) / 8
            blockPositions.append((scanComponents[0], 0, 0, 0))
        } else {
            mcusAcross = (width + 8 * maximumHorizontalFactor - 1) / (8 * maximumHorizontalFactor)
            mcusDown = (height + 8 * maximumVerticalFactor - 1) / (8 * maximumVerticalFactor)
            for (scanIndex, componentIndex) in scanComponents.enumerated() {
                let component = components[componentIndex]
                for blockY in 0..<component.verticalFactor {
                    for blockX in 0..<component.horizontalFactor {
                        blockPositions.append((componentIndex, scanIndex, blockX, blockY))
                    }
                }
            }
        }

        var coefficients = [Int](repeating: 0, count: 64)
        var workspace = [Int](repeating: 0, count: 64)
        let mcuCount = mcusAcross * mcusDown
        var nextRestart = 0
        for mcu in 0..<mcuCount {
            if restartInterval > 0 && mcu > 0 && mcu % restartInterval == 0 {
                try scan.bits.readRestartMarker(expected: nextRestart)
                nextRestart = (nextRestart + 1) & 7
                for index in scan.predictors.indices { scan.predictors[index] = 0 }
            }
            let mcuX = mcu % mcusAcross
            let mcuY = mcu / mcusAcross
            if mcuX == 0 {
                for componentIndex in scanComponents {
                    let factorY = count == 1 ? 1 : components[componentIndex].verticalFactor
                    growSamples(componentIndex, blockRows: (mcuY + 1) * factorY)
                }
            }
            for block in blockPositions {
                try scan.decodeBlock(into: &coefficients, scanIndex: block.scanIndex)
                let component = components[block.component]
                let factorX = count == 1 ? 1 : component.horizontalFactor
                let factorY = count == 1 ? 1 : component.verticalFactor
                let blockX = mcuX * factorX + block.blockX
                let blockY = mcuY * factorY + block.blockY
                let stride = component.storedBlocksAcross * 8
                inverseDCTIslow(
                    coefficients, quantization: quantizationTables[component.quantizationTable] ?? [],
                    workspace: &workspace, output: &components[block.component].samples,
                    offset: blockY * 8 * stride + blockX * 8, stride: stride)
            }
        }
        for componentIndex in scanComponents { components[componentIndex].isDecoded = true }
        position = scan.bits.position
    }

    /// Grows a component's zero-filled samples (doubling, at most its full stored size) to hold
    /// `blockRows` rows of blocks.
    private mutating func growSamples(_ index: Int, blockRows: Int) {
        let component = components[index]
        let rowBytes = component.storedBlocksAcross * 64
        let full = rowBytes * component.storedBlocksDown
        let needed = min(blockRows, component.storedBlocksDown) * rowBytes
        guard component.samples.count < needed else { return }
        let target = min(full, max(needed, component.samples.count * 2))
        components[index].samples.append(contentsOf: repeatElement(0, count: target - component.samples.count))
    }

    /// Upsamples and colour-converts the decoded planes into the final image.
    private mutating func finish() throws(ImageError) -> RGBImage {
        for index in components.indices { growSamples(index, blockRows: components[index].storedBlocksDown) }
        let planes = components.map { component in
            JPEGPlane(
                samples: component.samples, stride: component.storedBlocksAcross * 8,
                width: component.width, height: component.height,
                horizontalRatio: maximumHorizontalFactor / component.horizontalFactor,
                verticalRatio: maximumVerticalFactor / component.verticalFactor)
        }
        let full = planes.map { upsampleJPEGPlane($0, width: width, height: height) }
        var pixels: [UInt8]
        if full.count == 1 {
            pixels = [UInt8](repeating: 0, count: width * height * 3)
            for index in 0..<(width * height) {
                pixels[index * 3] = full[0][index]
                pixels[index * 3 + 1] = full[0][index]
                pixels[index * 3 + 2] = full[0][index]
            }
        } else if isStoredAsRGB {
            pixels = [UInt8](repeating: 0, count: width * height * 3)
            for index in 0..<(width * height) {
                pixels[index * 3] = full[0][index]
                pixels[index * 3 + 1] = full[1][index]
                pixels[index * 3 + 2] = full[2][index]
            }
        } else {
            pixels = convertYCbCrToRGB(luma: full[0], blueDifference: full[1], redDifference: full[2])
        }
        return RGBImage(validatedWidth: width, height: height, pixels: pixels)
    }

    /// libjpeg's rule (jdapimin.c `default_decompress_parms`) for three components: JFIF means
    /// YCbCr; otherwise an Adobe marker with transform 0 means RGB; otherwise component ids
    /// 'R', 'G', 'B' mean RGB; everything else is YCbCr.
    private var isStoredAsRGB: Bool {
        if sawJFIF { return false }
        if let adobeTransform { return adobeTransform == 0 }
        return components.map { $0.identifier } == [0x52, 0x47, 0x42]
    }
}

/// Entropy decoding of one scan: Huffman tables per scan component and DC predictors.
private struct ScanDecoder {
    var bits: JPEGBitReader
    let dcTables: [JPEGHuffmanTable]
    let acTables: [JPEGHuffmanTable]
    var predictors: [Int]

    init(bits: JPEGBitReader, dcTables: [JPEGHuffmanTable], acTables: [JPEGHuffmanTable]) {
        self.bits = bits
        self.dcTables = dcTables
        self.acTables = acTables
        self.predictors = [Int](repeating: 0, count: dcTables.count)
    }

    /// Decodes one block's 64 quantized coefficients into natural order (T.81 F.2.2).
    mutating func decodeBlock(into coefficients: inout [Int], scanIndex: Int) throws(ImageError) {
        for index in 0..<64 { coefficients[index] = 0 }
        let dcSize = try dcTables[scanIndex].decode(&bits)
        guard dcSize <= 16 else { throw .jpegInvalidHuffmanCode }
        // libjpeg keeps coefficients as 16-bit JCOEF; corrupt predictors wrap the same way.
        let dc = Int(Int16(truncatingIfNeeded: predictors[scanIndex] + (try bits.receiveExtend(dcSize))))
        predictors[scanIndex] = dc
        coefficients[0] = dc
        var index = 1
        let acTable = acTables[scanIndex]
        while index < 64 {
            let symbol = try acTable.decode(&bits)
            let run = symbol >> 4
            let size = symbol & 0x0F
            if size == 0 {
                if run != 15 { break }  // end of block
                index += 16  // sixteen zeros
                continue
            }
            index += run
            guard index < 64 else { throw .jpegCoefficientOverrun }
            coefficients[zigZagToNatural[index]] = try bits.receiveExtend(size)
            index += 1
        }
    }
}

func decodeJPEG(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> RGBImage {
    var decoder = JPEGDecoder(bytes: bytes)
    return try decoder.decode()
}
