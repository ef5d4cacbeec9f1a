package natsmx_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/natsmx"
)

// BenchmarkEdge sends parts from an Origin to viewers of an Edge, one part
// at a time, each one to every viewer (no HTTP). The allocations per part
// are the same for 1 and for 100 viewers: a viewer of an Edge costs no
// allocation per part, as a viewer of a Broadcaster.
//
//	go test -run X -bench Edge -benchmem ./natsmx/
func BenchmarkEdge(b *testing.B) {
	for _, viewers := range []int{1, 100} {
		b.Run(fmt.Sprintf("viewers=%d", viewers), func(b *testing.B) {
			s := runServer(b, 0)
			o := newOrigin(b, connect(b, s.ClientURL()))
			e, err := natsmx.NewEdge(connect(b, s.ClientURL()), subject, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Shutdown(context.Background())
			part := core.JPEG(make([]byte, 19<<10))
			o.Publish(part)
			got := make(chan struct{}, viewers)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for range viewers {
				go func() {
					for range e.Subscribe(ctx) {
						got <- struct{}{}
					}
				}()
			}
			for range viewers { // each has the first part
				<-got
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(part.Body) * viewers))
			b.ResetTimer()
			for b.Loop() {
				o.Publish(part)
				for range viewers {
					<-got
				}
			}
		})
	}
}
