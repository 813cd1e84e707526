// The kernel's floor for scenario b: what one server core pays per delivery when every delivery
// is its own send() of a ~130-byte WebSocket frame, in b's shape: R rooms x M members on
// loopback TCP, one message per room in turn at a combined rate, each going to the M sockets of
// its room. ../shared/floor measures a's shape (500 writes per message); b's costs about twice
// as much per delivery: 10 sends per wake-up, spread over 10,000 sockets whose state is no
// longer in the cache, each waking the reader.
//
// A forked reader on CPU 1 opens the connections and drains them; the writer on CPU 0 accepts
// them (so each process holds R x M sockets, under the 20,000-file limit) and prints the CPU per
// delivery with write(), with send(), and, built with -DURING (liburing), with io_uring: all of
// one message's sends in one submission, one kernel entry per message instead of one per
// delivery.
//
// build: gcc -O2 -o floor-b floor-b.c [-DURING -luring]
// run:   ./floor-b [rooms] [members] [messages/s] [seconds]     (default: 1000 10 1000 5)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef URING
#include <liburing.h>
#endif

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double cpu_self(void) { struct rusage r; getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6; }
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); sched_setaffinity(0, sizeof s, &s); }
static void raise_file_limit(void) { struct rlimit l; getrlimit(RLIMIT_NOFILE, &l); l.rlim_cur = l.rlim_max; setrlimit(RLIMIT_NOFILE, &l); }

// The reader: connects n sockets, then drains them until they close.
static void reader(struct sockaddr_in a, int n) {
  pin(1);
  int ep = epoll_create1(0); char buf[65536];
  for (int i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (void *)&a, sizeof a)) { perror("reader: connect"); _exit(1); }
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd}; epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
  }
  struct epoll_event ev[512];
  for (;;) {
    int k = epoll_wait(ep, ev, 512, 3000); if (k <= 0) _exit(0);
    for (int j = 0; j < k; j++) if (read(ev[j].data.fd, buf, sizeof buf) <= 0) _exit(0);
  }
}

enum { WRITE, SEND, IO_URING, MODES };
static const char *mode_name[MODES] = {"write() per delivery", "send() per delivery", "io_uring, a submit per message"};

int main(int argc, char **argv) {
  int rooms = argc > 1 ? atoi(argv[1]) : 1000, m = argc > 2 ? atoi(argv[2]) : 10;
  double rate = argc > 3 ? atof(argv[3]) : 1000, secs = argc > 4 ? atof(argv[4]) : 5;
  int n = rooms * m;
  if (rooms < 1 || m < 1 || rate <= 0 || secs <= 0) { fprintf(stderr, "usage: floor-b [rooms] [members] [messages/s] [seconds]\n"); return 2; }
  raise_file_limit();
  int lfd = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (void *)&a, sizeof a) || listen(lfd, 4096)) { perror("listen"); return 1; }
  socklen_t al = sizeof a; getsockname(lfd, (void *)&a, &al);
  pid_t rd = fork();
  if (rd == 0) reader(a, n);
  int *srv = calloc(n, sizeof(int)), one = 1;
  alarm(60);  // a reader that failed to connect them all must not leave us waiting in accept
  for (int i = 0; i < n; i++) {
    if ((srv[i] = accept(lfd, 0, 0)) < 0) { perror("accept"); kill(rd, 9); return 1; }
    setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  alarm(0);
  pin(0);
#ifdef URING
  struct io_uring ring;
  if (io_uring_queue_init(m < 4096 ? 4096 : m, &ring, 0)) { perror("io_uring_queue_init"); kill(rd, 9); return 1; }
  int modes = MODES;
#else
  int modes = IO_URING;
#endif
  char frame[132]; memset(frame, 'x', sizeof frame);
  printf("%d rooms x %d members, %.0f messages/s, %.0f s per mode in 1 s turns\n", rooms, m, rate, secs);
  // The modes take turns of one second each, so that the machine's drift touches them alike.
  long deliveries[MODES] = {0}, msg = 0; double cpu[MODES] = {0}, elapsed[MODES] = {0};
  for (int turn = 0; turn < secs; turn++) {
    for (int mode = 0; mode < modes; mode++) {
      double c0 = cpu_self(), t0 = now(), next = t0;
      while (now() - t0 < 1) {
        int *room = srv + (msg++ % rooms) * m;
        for (int i = 0; i < m && mode != IO_URING; i++) {
          ssize_t w = mode == WRITE ? write(room[i], frame, sizeof frame) : send(room[i], frame, sizeof frame, MSG_DONTWAIT);
          if (w < 0) { perror(mode_name[mode]); kill(rd, 9); return 1; }
        }
#ifdef URING
        if (mode == IO_URING) {
          for (int i = 0; i < m; i++) io_uring_prep_send(io_uring_get_sqe(&ring), room[i], frame, sizeof frame, MSG_DONTWAIT);
          io_uring_submit_and_wait(&ring, m);
          struct io_uring_cqe *cqe; unsigned head, seen = 0;
          io_uring_for_each_cqe(&ring, head, cqe) {
            if (cqe->res < 0) { fprintf(stderr, "io_uring send: %s\n", strerror(-cqe->res)); kill(rd, 9); return 1; }
            seen++;
          }
          io_uring_cq_advance(&ring, seen);
        }
#endif
        deliveries[mode] += m;
        next += 1.0 / rate; double d = next - now();
        if (d > 0) { struct timespec ts = {0, (long)(d * 1e9)}; nanosleep(&ts, 0); }
      }
      cpu[mode] += cpu_self() - c0; elapsed[mode] += now() - t0;
    }
  }
  for (int mode = 0; mode < modes; mode++)
    printf("%-32s %.0f deliveries/s, server CPU %.1f%%, %.2f us per delivery\n", mode_name[mode],
           deliveries[mode] / elapsed[mode], 100 * cpu[mode] / elapsed[mode], 1e6 * cpu[mode] / deliveries[mode]);
  for (int i = 0; i < n; i++) close(srv[i]);
  kill(rd, 9); waitpid(rd, 0, 0); return 0;
}
