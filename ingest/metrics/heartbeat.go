package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

var (
	hbQueueDesc = prometheus.NewDesc(Namespace+"_device_queue_bytes",
		"Bytes of records queued on the device, unacknowledged, as its latest heartbeat reported.", []string{"device"}, nil)
	hbDroppedDesc = prometheus.NewDesc(Namespace+"_device_dropped_records",
		"Records the device's agent dropped since it started (its memory budget full), as its latest heartbeat reported.", []string{"device"}, nil)
	hbDroppedBytesDesc = prometheus.NewDesc(Namespace+"_device_dropped_bytes",
		"Record bytes the device's agent dropped since it started, as its latest heartbeat reported.", []string{"device"}, nil)
	hbOffsetDesc = prometheus.NewDesc(Namespace+"_device_clock_offset_seconds",
		"The device clock's offset against its NTP servers (true minus local: positive when the device is behind), as its latest heartbeat reported; absent before its first good clock reading.", []string{"device"}, nil)
	hbTimeDesc = prometheus.NewDesc(Namespace+"_device_last_heartbeat_timestamp_seconds",
		"When detection read the device's latest heartbeat (collector clock, Unix time).", []string{"device"}, nil)
	hbDevicesDesc = prometheus.NewDesc(Namespace+"_heartbeat_devices",
		"Devices with per-device heartbeat gauges (at most metrics.max_devices).", nil, nil)
	hbLeftOutDesc = prometheus.NewDesc(Namespace+"_heartbeat_devices_left_out_total",
		"Devices that sent a heartbeat but have no per-device gauges: metrics.max_devices other devices came first.", nil, nil)
)

// deviceHB is a device's latest heartbeat figures.
type deviceHB struct {
	queue, dropped, droppedBytes float64
	offset                       float64
	haveOffset                   bool
	at                           time.Time
}

// heartbeats keeps the latest heartbeat of at most max devices, the first
// ones heard; the others are counted once each, never labelled, so a
// large fleet costs a bounded number of series.
type heartbeats struct {
	max int

	mu      sync.Mutex
	devices map[string]*deviceHB
	leftOut map[string]struct{} // no larger than the fleet, as detection's own state
}

func newHeartbeats(max int) *heartbeats {
	return &heartbeats{max: max, devices: map[string]*deviceHB{}, leftOut: map[string]struct{}{}}
}

// Heartbeat takes a HEARTBEAT record of device, read by detection (off
// the ingest path); other records are ignored.
func (m *Metrics) Heartbeat(device string, r *offboxv1.Record) {
	if r.GetKind() != offboxv1.Kind_KIND_HEARTBEAT {
		return
	}
	m.hb.observe(device, r, m.cfg.Now())
}

func (h *heartbeats) observe(device string, r *offboxv1.Record, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.devices[device]
	if d == nil {
		if len(h.devices) >= h.max {
			h.leftOut[device] = struct{}{}
			return
		}
		d = &deviceHB{}
		h.devices[device] = d
	}
	d.at = now
	d.haveOffset = false // a heartbeat without a good clock reading has none
	for _, a := range r.GetAttrs() {
		switch a.GetKey() {
		case "queue_bytes":
			setInt(&d.queue, a.GetValue())
		case "dropped_records":
			setInt(&d.dropped, a.GetValue())
		case "dropped_bytes":
			setInt(&d.droppedBytes, a.GetValue())
		case "clock_offset_ns":
			d.haveOffset = setInt(&d.offset, a.GetValue())
		}
	}
}

// setInt sets *dst to the integer s and reports true when s is one; a
// value that does not parse leaves *dst as it was.
func setInt(dst *float64, s string) bool {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false
	}
	*dst = float64(v)
	return true
}

func (h *heartbeats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{hbQueueDesc, hbDroppedDesc, hbDroppedBytesDesc, hbOffsetDesc, hbTimeDesc, hbDevicesDesc, hbLeftOutDesc} {
		ch <- d
	}
}

func (h *heartbeats) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, d := range h.devices {
		ch <- prometheus.MustNewConstMetric(hbQueueDesc, prometheus.GaugeValue, d.queue, name)
		ch <- prometheus.MustNewConstMetric(hbDroppedDesc, prometheus.GaugeValue, d.dropped, name)
		ch <- prometheus.MustNewConstMetric(hbDroppedBytesDesc, prometheus.GaugeValue, d.droppedBytes, name)
		if d.haveOffset {
			ch <- prometheus.MustNewConstMetric(hbOffsetDesc, prometheus.GaugeValue, d.offset/1e9, name)
		}
		ch <- prometheus.MustNewConstMetric(hbTimeDesc, prometheus.GaugeValue, float64(d.at.UnixNano())/1e9, name)
	}
	ch <- prometheus.MustNewConstMetric(hbDevicesDesc, prometheus.GaugeValue, float64(len(h.devices)))
	ch <- prometheus.MustNewConstMetric(hbLeftOutDesc, prometheus.CounterValue, float64(len(h.leftOut)))
}
