#include <rte_config.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include "shim.h"

int pm_rte_errno(void) { return rte_errno; }
void pm_rte_reset_errno(void) { rte_errno = 0; }
unsigned pm_rte_lcore_id(void) { return rte_lcore_id(); }
unsigned pm_rte_socket_id(void) { return rte_socket_id(); }

uint16_t pm_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                             struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{ return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts); }
uint16_t pm_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                             struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{ return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts); }

struct rte_mbuf *pm_rte_pktmbuf_alloc(struct rte_mempool *mp)
{ return rte_pktmbuf_alloc(mp); }
int pm_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                              unsigned count)
{ return rte_pktmbuf_alloc_bulk(mp, mbufs, count); }
void pm_rte_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
void pm_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count)
{ rte_pktmbuf_free_bulk(mbufs, count); }
char *pm_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{ return rte_pktmbuf_append(m, len); }
char *pm_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{ return rte_pktmbuf_prepend(m, len); }
char *pm_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{ return rte_pktmbuf_adj(m, len); }
int pm_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{ return rte_pktmbuf_trim(m, len); }
void *pm_rte_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }
uint16_t pm_rte_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }
uint32_t pm_rte_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }
uint16_t pm_rte_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }
uint16_t pm_rte_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
uint16_t pm_rte_mbuf_refcnt_read(const struct rte_mbuf *m) { return rte_mbuf_refcnt_read(m); }
uint16_t pm_rte_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value)
{ return rte_mbuf_refcnt_update(m, value); }
uint16_t pm_rte_mbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }
uint64_t pm_rte_mbuf_ol_flags(const struct rte_mbuf *m) { return m->ol_flags; }
void pm_rte_mbuf_set_tx_offload(struct rte_mbuf *m, uint64_t ol_flags,
                                uint16_t l2_len, uint16_t l3_len)
{ m->ol_flags |= ol_flags; m->l2_len = l2_len; m->l3_len = l3_len; }
uint32_t pm_rte_mbuf_rss_hash(const struct rte_mbuf *m) { return m->hash.rss; }
uint16_t pm_rte_mbuf_port(const struct rte_mbuf *m) { return m->port; }
unsigned pm_rte_mempool_avail_count(const struct rte_mempool *mp)
{ return rte_mempool_avail_count(mp); }
uint16_t pm_rte_ipv4_phdr_cksum(const void *ipv4_hdr, uint64_t ol_flags)
{ return rte_ipv4_phdr_cksum((const struct rte_ipv4_hdr *)ipv4_hdr, ol_flags); }
