import CLibc

/// `--drop-late`: a thread of its own reads the stream as fast as frames arrive and keeps only the
/// newest complete one; `next` hands that frame to the detector and frames that arrived while the
/// detector was busy are dropped (counted), so the detections follow the camera instead of falling
/// behind it. Three frame buffers rotate between the reader, the newest frame and the detector:
/// nothing is allocated per frame.
///
/// The reader thread is detached: a consumer that stops early (a closed output) does not wait for a
/// read that may never return; the thread sees `stopping` after its read and ends, or ends with the
/// process.
final class LatestFrameReader {
    /// One frame buffer and the index of the frame in it.
    final class Slot {
        var image: RGBImage
        var frame = -1
        init() { image = RGBImage(validatedWidth: 0, height: 0, pixels: []) }
    }

    private var reader: RawFrameReader
    private let slots = [Slot(), Slot(), Slot()]
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let frameReady = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // The three slots are always, one each: the reader's (`filling`, the reader thread's own), the
    // consumer's (`held`), and either the newest complete frame (`newest`) or free (`free`); -1 marks
    // the empty role. Publishing a frame when `newest` is taken swaps the two (the old frame is
    // dropped); otherwise the free slot becomes the reader's. Taking the newest frame gives the
    // consumer's old slot back as the free one. So neither side ever waits for a slot.
    // Under the mutex:
    private var newest = -1
    private var free = 1
    private var held = 2
    private var finished = false
    private var stopping = false
    private var streamError: StreamError?
    /// Frames overwritten before the consumer took them.
    private var droppedFrames = 0

    init(_ reader: RawFrameReader) {
        self.reader = reader
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(frameReady, nil)
    }

    deinit {
        pthread_cond_destroy(frameReady)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        frameReady.deallocate()
    }

    /// Starts the reader thread (it holds a reference to `self` until it ends).
    func start() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { raw in
            let reader = Unmanaged<LatestFrameReader>.fromOpaque(raw!).takeRetainedValue()
            reader.readLoop()
            return nil
        }, context)
        pthread_detach(thread)
    }

    /// The newest frame not yet taken, waiting for one if needed; nil once the stream has ended and
    /// every frame was taken or dropped. The slot stays the caller's until the next call.
    func next() -> Slot? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while newest < 0 && !finished { pthread_cond_wait(frameReady, mutex) }
        guard newest >= 0 else { return nil }
        free = held
        held = newest
        newest = -1
        return slots[held]
    }

    /// Frames dropped so far, and the error that ended the stream, if any.
    var state: (dropped: Int, error: StreamError?) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (droppedFrames, streamError)
    }

    /// Asks the reader thread to end after its current read.
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_mutex_unlock(mutex)
    }

    /// The reader thread: fill its slot, publish it as the newest frame, take the next slot, until
    /// the stream ends or the consumer stops.
    private func readLoop() {
        var filling = 0
        while true {
            let slot = slots[filling]
            var ended = false
            var failure: StreamError?
            do throws(StreamError) {
                ended = try !reader.next(into: &slot.image)
            } catch {
                failure = error
            }
            slot.frame = reader.framesRead - 1
            pthread_mutex_lock(mutex)
            if ended || failure != nil || stopping {
                finished = true
                streamError = failure
                pthread_cond_signal(frameReady)
                pthread_mutex_unlock(mutex)
                return
            }
            if newest >= 0 {
                droppedFrames += 1
                swap(&newest, &filling)
            } else {
                newest = filling
                filling = free
                free = -1
            }
            pthread_cond_signal(frameReady)
            pthread_mutex_unlock(mutex)
        }
    }
}
