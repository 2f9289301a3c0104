// The libFuzzer entry point over EdgeFuzzing's harnesses. Fuzz/run.sh builds it with
// `swift build --sanitize=fuzzer --sanitize=address -Xswiftc -DEDGEDETR_FUZZING`: libFuzzer then
// supplies `main`, and the harness is chosen by EDGEDETR_FUZZ_TARGET. An ordinary build makes a
// small tool instead: `edgedetr-fuzz replay TARGET FILE...` runs inputs through a harness (a crash
// reproduced without sanitizers), `edgedetr-fuzz seeds FOLDER` writes the generated seeds.
import EdgeFuzzing
import Foundation

#if EDGEDETR_FUZZING
nonisolated(unsafe) private var selectedTarget: FuzzTarget? = nil

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let name = ProcessInfo.processInfo.environment["EDGEDETR_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("edgedetr-fuzz: set EDGEDETR_FUZZ_TARGET to one of \(names) (got '\(name)')\n".utf8))
        exit(2)
    }
    selectedTarget = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selectedTarget?.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
enum FuzzTool {
    static func main() {
        let arguments = CommandLine.arguments
        let usage = "usage: edgedetr-fuzz replay TARGET FILE... | edgedetr-fuzz seeds FOLDER (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))"
        guard arguments.count >= 3 else { fail(usage) }
        switch arguments[1] {
        case "replay":
            guard let target = FuzzTarget(rawValue: arguments[2]) else { fail("unknown target '\(arguments[2])'; \(usage)") }
            for path in arguments.dropFirst(3) {
                do { try target.run(file: path) } catch { fail("\(path): \(error.localizedDescription)") }
                print("\(path): handled")
            }
        case "seeds":
            do {
                for (name, bytes) in try FuzzSeeds.generated() {
                    let path = arguments[2] + "/" + name
                    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                            withIntermediateDirectories: true)
                    try bytes.write(to: URL(fileURLWithPath: path))
                }
            } catch {
                fail("\(error)")
            }
        default:
            fail(usage)
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("edgedetr-fuzz: \(message)\n".utf8))
        exit(2)
    }
}
#endif
