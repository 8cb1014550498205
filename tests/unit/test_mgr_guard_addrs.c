/* The addresses a VM's guards let it send from (src/manager/net/net_guard_addrs.c): its
 * interface's lists, its reservation and the leases of its MAC that have not expired, sorted and
 * each once; a bridge network's leases and reservations are not its own. */
#include "unit.h"
#include "manager/mgr.h"
#include "manager/net/leases.h"
#include "manager/net/net_guard_addrs.h"
#include "manager/net/net_inventory.h"
#include "manager/net/guards.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAC_A "52:54:00:5e:00:0a"

static const uint8_t mac_a[6] = { 0x52, 0x54, 0x00, 0x5e, 0x00, 0x0a }, mac_b[6] = { 0x52, 0x54, 0x00, 0x5e, 0x00, 0x0b };

static void network(struct mgr_net *n, const char *kind_extra)
{
	char text[1024], err[256] = "";
	snprintf(text, sizeof(text), "{\"name\": \"default\", %s}", kind_extra);
	memset(n, 0, sizeof(*n));
	n->leases_fd = n->dnsmasq_pidfd = -1;
	REQUIRE_EQ(net_def_parse(text, strlen(text), &n->def, err, sizeof(err)), 0);
}

static struct lease lease(const uint8_t mac[6], const char *ip, int64_t expiry)
{
	struct lease l = { .expiry = expiry };
	memcpy(l.mac, mac, 6);
	inet_pton(AF_INET, ip, &l.ip);
	return l;
}

static const char *str(struct in_addr a)
{
	static char s[4][INET_ADDRSTRLEN];
	static unsigned k;
	return inet_ntop(AF_INET, &a, s[k++ % 4], INET_ADDRSTRLEN);
}

TEST(reservation_leases_and_lists_sorted_once)
{
	struct mgr_net n;
	network(&n, "\"kind\": \"nat\", \"ipv4\": {\"address\": \"10.77.0.1\", \"prefix\": 24, \"dhcp_start\": "
		    "\"10.77.0.100\", \"dhcp_end\": \"10.77.0.200\"}, \"reservations\": [{\"mac\": \"" MAC_A "\", "
		    "\"ip\": \"10.77.0.5\"}]");
	json_t *ifc = json_pack("{s:s, s:s, s:s, s:[s], s:[s]}", "iface_id", "eth0", "network", "default", "guest_mac",
				MAC_A, "ipv4", "10.77.0.9", "ipv6", "fd00::1");
	struct lease l[] = { lease(mac_a, "10.77.0.150", 0), lease(mac_a, "10.77.0.5", 0), lease(mac_b, "10.77.0.151", 0) };
	static struct in_addr v4[GUARDS_MAX_ADDRESSES];
	static struct in6_addr v6[GUARDS_MAX_ADDRESSES];
	size_t nv4, nv6;
	net_guard_addrs(&n, ifc, mac_a, l, 3, NULL, v4, &nv4, v6, &nv6);
	REQUIRE_EQ(nv4, 3);   /* the reservation once, though leased too; not the other MAC's */
	CHECK_STR_EQ(str(v4[0]), "10.77.0.5");
	CHECK_STR_EQ(str(v4[1]), "10.77.0.9");
	CHECK_STR_EQ(str(v4[2]), "10.77.0.150");
	CHECK_EQ(nv6, 1);
	/* without a reservation or a lease: the lists alone; the other MAC's lease is not its */
	net_guard_addrs(&n, ifc, mac_b, l, 0, NULL, v4, &nv4, v6, &nv6);
	REQUIRE_EQ(nv4, 1);
	CHECK_STR_EQ(str(v4[0]), "10.77.0.9");
	net_guard_addrs(&n, ifc, mac_b, l, 3, NULL, v4, &nv4, v6, &nv6);
	REQUIRE_EQ(nv4, 2);
	CHECK_STR_EQ(str(v4[1]), "10.77.0.151");
	/* the leases it brought from a migration's source: its MAC's, until they expire */
	long long now = (long long)time(NULL);
	char text[512];
	snprintf(text, sizeof(text), "[{\"mac\": \"" MAC_A "\", \"ip\": \"10.77.0.160\", \"expiry\": %lld},"
		 "{\"mac\": \"" MAC_A "\", \"ip\": \"10.77.0.161\", \"expiry\": 5},"
		 "{\"mac\": \"52:54:00:5e:00:0b\", \"ip\": \"10.77.0.162\", \"expiry\": 0}]", now + 100);
	json_t *arriving = json_loads(text, 0, NULL);
	REQUIRE(arriving != NULL);
	json_t *carried = net_leases_carried(arriving, mac_a);
	REQUIRE_EQ(json_array_size(carried), 2);
	CHECK(net_leases_carried(arriving, (const uint8_t[6]){ 2, 0, 0, 0, 0, 1 }) == NULL);
	net_guard_addrs(&n, ifc, mac_a, l, 0, carried, v4, &nv4, v6, &nv6);
	REQUIRE_EQ(nv4, 3);   /* the reservation, the list, the carried lease not expired */
	CHECK_STR_EQ(str(v4[2]), "10.77.0.160");
	json_decref(carried);
	json_decref(arriving);
	/* guards: the interface's word, else the network's */
	CHECK(!net_guards_off(&n, ifc));
	json_object_set_new(ifc, "guards", json_false());
	CHECK(net_guards_off(&n, ifc));
	json_decref(ifc);
	net_def_free(&n.def);
}

TEST(a_bridge_network_has_no_leases_of_its_own)
{
	struct mgr_net n;
	network(&n, "\"kind\": \"bridge\", \"bridge\": \"lo\", \"guards\": false");
	json_t *ifc = json_pack("{s:s, s:s}", "iface_id", "eth0", "network", "default");
	struct lease l[] = { lease(mac_a, "10.77.0.150", 0) };
	static struct in_addr v4[GUARDS_MAX_ADDRESSES];
	static struct in6_addr v6[GUARDS_MAX_ADDRESSES];
	size_t nv4, nv6;
	net_guard_addrs(&n, ifc, mac_a, l, 1, NULL, v4, &nv4, v6, &nv6);
	CHECK_EQ(nv4, 0);
	CHECK_EQ(nv6, 0);
	CHECK(net_guards_off(&n, ifc));
	json_decref(ifc);
	net_def_free(&n.def);
}

TEST(expired_leases_left_out)
{
	char dir[] = "/tmp/petrel-guard-addrs-XXXXXX", path[256], err[256] = "";
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/networks", dir);
	REQUIRE(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/networks/default", dir);
	REQUIRE(mkdir(path, 0755) == 0);
	struct manager m;
	memset(&m, 0, sizeof(m));
	m.state_dir = dir;
	struct mgr_net n;
	network(&n, "\"kind\": \"isolated\", \"ipv4\": {\"address\": \"10.77.0.1\", \"prefix\": 24, \"dhcp_start\": "
		    "\"10.77.0.100\", \"dhcp_end\": \"10.77.0.200\"}");
	struct lease *l = NULL;
	size_t nl = 9;
	int64_t next = 9;
	/* no file yet: no leases */
	CHECK_EQ(net_leases_current(&m, &n, &l, &nl, &next, err, sizeof(err)), 0);
	CHECK_EQ(nl, 0);
	CHECK_EQ(next, 0);
	int64_t later = (int64_t)time(NULL) + 100, sooner = later - 50;
	snprintf(path, sizeof(path), "%s/networks/default/leases", dir);
	FILE *f = fopen(path, "w");
	REQUIRE(f != NULL);
	fprintf(f, "5 " MAC_A " 10.77.0.101 old *\n0 " MAC_A " 10.77.0.102 forever *\n"
		   "%lld " MAC_A " 10.77.0.103 later *\n%lld " MAC_A " 10.77.0.104 sooner *\n",
		(long long)later, (long long)sooner);
	fclose(f);
	CHECK_EQ(net_leases_current(&m, &n, &l, &nl, &next, err, sizeof(err)), 0);
	REQUIRE_EQ(nl, 3);
	CHECK_STR_EQ(str(l[0].ip), "10.77.0.102");
	CHECK_STR_EQ(str(l[1].ip), "10.77.0.103");
	CHECK_STR_EQ(str(l[2].ip), "10.77.0.104");
	CHECK_EQ(next, sooner);
	free(l);
	unlink(path);
	snprintf(path, sizeof(path), "%s/networks/default", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/networks", dir);
	rmdir(path);
	rmdir(dir);
	net_def_free(&n.def);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
