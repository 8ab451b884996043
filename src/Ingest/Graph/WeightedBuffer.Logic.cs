using Akka.Event;
using Akka.Streams.Stage;

namespace Ingest.Graph;

public sealed partial class WeightedBuffer<T>
{
    /// <summary>
    /// The state of one run. Every member runs on the stage's thread: handlers, the release callback and
    /// <see cref="PostStop"/>; only <see cref="WeightedBufferControl"/> is shared with other threads.
    /// </summary>
    private sealed class Logic : InAndOutGraphStageLogic
    {
        private readonly WeightedBuffer<T> _stage;
        private readonly WeightedBufferControl _control;

        // Elements are kept with the weight measured on arrival, so a weight function whose answer drifts cannot
        // unbalance the sums. A Queue is a ring: once grown it allocates nothing per element.
        private readonly Queue<(T Element, long Weight)> _queue = new();
        private long _queued;
        private long _inFlight;

        // Backpressure only: the element that arrived without room, outside the budget until it fits.
        private T _waiting = default!;
        private long _waitingWeight;
        private bool _hasWaiting;

        // What PostStop tells the drop callback about elements left behind; anything but a cancel is a failure.
        private string _stopReason = WeightedBufferDropReason.Failed;

        public Logic(WeightedBuffer<T> stage) : base(stage.Shape)
        {
            _stage = stage;
            _control = new WeightedBufferControl(stage.Capacity, GetAsyncCallback(OnReleased));
            SetHandler(stage.In, this);
            SetHandler(stage.Out, this);
        }

        public IWeightedBufferControl Control => _control;

        private long Held => _queued + _inFlight;

        private bool Fits(long weight) => Held == 0 || weight <= _stage.Capacity - Held;

        public override void PreStart()
        {
            _control.Start();
            // Nothing is in flight yet, so anything released before the start is surplus and is dropped.
            _control.TakeReleased();
            Pull(_stage.In);
        }

        public override void OnPush()
        {
            var element = Grab(_stage.In);
            var weight = WeightOf(element);
            switch (_stage.Policy)
            {
                case FullPolicy.Backpressure:
                    if (Fits(weight))
                        Enqueue(element, weight);
                    else
                        Wait(element, weight);
                    break;
                case FullPolicy.DropNewest:
                    if (Fits(weight))
                        Enqueue(element, weight);
                    else
                        _stage.OnDrop(element, WeightedBufferDropReason.QueueFull);
                    break;
                case FullPolicy.DropOldest:
                    // Dropping queued elements cannot help when what is in flight leaves no room on its own.
                    if (_inFlight > 0 && weight > _stage.Capacity - _inFlight)
                    {
                        _stage.OnDrop(element, WeightedBufferDropReason.QueueFull);
                        break;
                    }
                    while (!Fits(weight))
                    {
                        var (oldest, oldestWeight) = _queue.Dequeue();
                        _queued -= oldestWeight;
                        _stage.OnDrop(oldest, WeightedBufferDropReason.Evicted);
                    }
                    Enqueue(element, weight);
                    break;
            }
            _control.Publish(Held);
            Emit();
            PullIfRoom();
        }

        public override void OnPull() => Emit();

        public override void OnUpstreamFinish()
        {
            // Waiting for releases here could wait forever (a sink may release only once it sees completion), so the
            // waiting element goes out over budget.
            if (_hasWaiting)
            {
                Enqueue(TakeWaiting(), _waitingWeight);
                _control.Publish(Held);
            }
            Emit();
        }

        public override void OnUpstreamFailure(Exception e)
        {
            _stopReason = WeightedBufferDropReason.Failed;
            FailStage(e);
        }

        public override void OnDownstreamFinish(Exception cause)
        {
            _stopReason = WeightedBufferDropReason.Cancelled;
            base.OnDownstreamFinish(cause);
        }

        public override void PostStop()
        {
            ApplyReleased();
            while (_queue.TryDequeue(out var left))
                HandOver(left.Element);
            if (_hasWaiting)
                HandOver(TakeWaiting());
            _queued = 0;
            _control.Stop(_inFlight);
        }

        private void OnReleased()
        {
            ApplyReleased();
            if (_hasWaiting && Fits(_waitingWeight))
                Enqueue(TakeWaiting(), _waitingWeight);
            _control.Publish(Held);
            Emit();
            PullIfRoom();
        }

        private void ApplyReleased() => _inFlight -= Math.Min(_control.TakeReleased(), _inFlight);

        private long WeightOf(T element)
        {
            long weight;
            try
            {
                weight = _stage.Weight(element);
            }
            catch
            {
                // The stage fails with the exception; the element it could not weigh is handed over first.
                _stage.OnDrop(element, WeightedBufferDropReason.Failed);
                throw;
            }
            if (weight < 0)
            {
                _stage.OnDrop(element, WeightedBufferDropReason.Failed);
                throw new InvalidOperationException($"The weight function gave {weight} for an element; weights must be zero or more.");
            }
            return weight;
        }

        private void Enqueue(T element, long weight)
        {
            _queue.Enqueue((element, weight));
            _queued += weight;
        }

        private void Wait(T element, long weight)
        {
            _waiting = element;
            _waitingWeight = weight;
            _hasWaiting = true;
        }

        private T TakeWaiting()
        {
            var element = _waiting;
            _waiting = default!;
            _hasWaiting = false;
            return element;
        }

        /// <summary>Pushes the oldest element if the downstream wants one; completes once all is out after the upstream finished.</summary>
        private void Emit()
        {
            if (_queue.Count > 0 && IsAvailable(_stage.Out))
            {
                var (element, weight) = _queue.Dequeue();
                _queued -= weight;
                _inFlight += weight;
                Push(_stage.Out, element);
            }
            if (_queue.Count == 0 && IsClosed(_stage.In))
                CompleteStage();
        }

        private void PullIfRoom()
        {
            if (_hasWaiting || IsClosed(_stage.In) || HasBeenPulled(_stage.In))
                return;
            // The drop policies keep pulling so the upstream never waits on this branch; a full buffer drops instead.
            if (_stage.Policy == FullPolicy.Backpressure && Held >= _stage.Capacity)
                return;
            Pull(_stage.In);
        }

        private void HandOver(T element)
        {
            try
            {
                _stage.OnDrop(element, _stopReason);
            }
            catch (Exception e)
            {
                // One throwing callback must not keep the rest of the elements from being handed over.
                Log.Error(e, "WeightedBuffer: the drop callback threw while handing over an element left at stop");
            }
        }
    }
}
