package natsmx_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mxreplace/mx/core"
	"github.com/mxreplace/mx/natsmx"
)

// An origin: the camera's frames go to local viewers and to the subject.
func ExampleOrigin() {
	nc, err := nats.Connect("nats://n1:4222,nats://n2:4222", nats.MaxReconnects(-1))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	cam := &core.Broadcaster{Timestamps: true}
	origin, err := natsmx.NewOrigin(nc, "mx.camera", cam, nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for frame := range camera() {
			if err := origin.Publish(core.JPEG(frame)); err != nil {
				log.Print(err) // a frame too large for NATS, or the end
				return
			}
		}
	}()
	http.Handle("GET /stream", core.Handler(cam.Subscribe, nil))
	http.Handle("GET /snapshot", cam.SnapshotHandler())
	log.Fatal(http.ListenAndServe(":8080", nil))
}

// An edge: the subject's parts to this replica's viewers.
func ExampleEdge() {
	nc, err := nats.Connect("nats://n1:4222,nats://n2:4222", nats.MaxReconnects(-1))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	edge, err := natsmx.NewEdge(nc, "mx.camera", &natsmx.EdgeOptions{IdleRepeat: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer edge.Shutdown(context.Background())
	http.Handle("GET /stream", core.Handler(edge.Subscribe, nil))
	http.Handle("GET /snapshot", edge.SnapshotHandler())
	log.Fatal(http.ListenAndServe(":8081", nil))
}

// camera stands for a source of JPEG frames.
func camera() chan []byte { return nil }
