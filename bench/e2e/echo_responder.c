/* The ceiling of the end-to-end benchmark: a UDP "DNS server" that answers
 * every datagram with the datagram itself, QR and AA set (TC cleared, RCODE
 * 0), in batches of up to 64 with recvmmsg/sendmmsg on one thread. It does
 * no parsing and no lookup: what is left is the kernel's UDP path and the
 * load generator, i.e. the most any single-threaded server could answer.
 *
 *   echo_responder 127.0.0.1 PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kBatch = 64, kBuf = 4096 };

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ADDR PORT\n", argv[0]);
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || bind(fd, (struct sockaddr*)&sa, sizeof sa) != 0) {
    perror("bind");
    return 1;
  }
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  static char bufs[kBatch][kBuf];
  static struct sockaddr_in peers[kBatch];
  static struct iovec iov[kBatch];
  static struct mmsghdr msgs[kBatch];
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = kBuf;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_name = &peers[i];
      msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    int out = 0;
    for (int i = 0; i < n; ++i) {
      unsigned len = msgs[i].msg_len;
      if (len < 12) continue;
      unsigned char* p = (unsigned char*)bufs[i];
      p[2] = (unsigned char)((p[2] | 0x84) & ~0x02); /* QR, AA; no TC */
      p[3] = 0;                                     /* RA=0, RCODE=0 */
      iov[i].iov_len = len;
      if (out != i) {
        msgs[out] = msgs[i];
      }
      msgs[out].msg_hdr.msg_namelen = sizeof peers[i];
      ++out;
    }
    if (out > 0) sendmmsg(fd, msgs, (unsigned)out, 0);
  }
}
