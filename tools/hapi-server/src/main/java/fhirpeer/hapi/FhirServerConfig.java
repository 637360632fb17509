package fhirpeer.hapi;

import java.util.List;
import java.util.Map;

import javax.sql.DataSource;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.batch2.jobs.imprt.BulkDataImportProvider;
import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.IDaoRegistry;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.config.util.ResourceCountCacheUtil;
import ca.uhn.fhir.jpa.dao.FulltextSearchSvcImpl;
import ca.uhn.fhir.jpa.dao.IFulltextSearchSvc;
import ca.uhn.fhir.jpa.dao.search.HSearchSortHelperImpl;
import ca.uhn.fhir.jpa.dao.search.IHSearchSortHelper;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.provider.DaoRegistryResourceSupportedSvc;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.search.IStaleSearchDeletingSvc;
import ca.uhn.fhir.jpa.search.StaleSearchDeletingSvcImpl;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.jpa.subscription.match.config.SubscriptionProcessorConfig;
import ca.uhn.fhir.jpa.subscription.match.config.WebsocketDispatcherConfig;
import ca.uhn.fhir.jpa.subscription.match.deliver.email.IEmailSender;
import ca.uhn.fhir.jpa.subscription.submit.config.SubscriptionSubmitterConfig;
import ca.uhn.fhir.jpa.util.ResourceCountCache;
import ca.uhn.fhir.narrative2.NullNarrativeGenerator;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.api.IResourceSupportedSvc;
import ca.uhn.fhir.rest.server.ETagSupportEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.RequestValidatingInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import ca.uhn.fhir.validation.IInstanceValidatorModule;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import jakarta.persistence.EntityManagerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.BeansException;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.core.env.Environment;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.transaction.annotation.EnableTransactionManagement;

/**
 * The host side of HAPI's JPA server: the beans that HAPI's own configurations expect the application to
 * supply (storage settings, entity manager factory, paging, ...) and the RestfulServer servlet on /fhir/*.
 */
@Configuration
@EnableTransactionManagement
@Import({
	JpaR4Config.class,
	SubscriptionSubmitterConfig.class,
	SubscriptionProcessorConfig.class,
	SubscriptionChannelConfig.class,
	WebsocketDispatcherConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	ThreadPoolFactoryConfig.class,
	ValidationConfig.class
})
public class FhirServerConfig {

	private static final Logger ourLog = LoggerFactory.getLogger(FhirServerConfig.class);

	// ---------------------------------------------------------------- settings

	@Bean
	public JpaStorageSettings jpaStorageSettings(Environment env) {
		JpaStorageSettings s = new JpaStorageSettings();
		// ids: like the public sandbox, client-assigned ids must contain a non-digit
		s.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ALPHANUMERIC);
		s.setEnforceReferentialIntegrityOnWrite(true);
		s.setEnforceReferentialIntegrityOnDelete(true);
		s.setAutoCreatePlaceholderReferenceTargets(false);
		// a test must see its own writes at once: no reuse of cached search results
		s.setReuseCachedSearchResultsForMillis(null);
		s.setMatchUrlCacheEnabled(false);
		// clean-up between tests
		s.setExpungeEnabled(true);
		s.setDeleteExpungeEnabled(true);
		s.setAllowMultipleDelete(true);
		// faster start, nothing in the tests needs these
		s.setMarkResourcesForReindexingUponSearchParameterChange(false);
		s.setPreExpandValueSets(false);
		s.setEnableTaskPreExpandValueSets(false);
		// paging
		int maxPage = env.getProperty("fhirpeer.max-page-size", Integer.class, 1000);
		s.setFetchSizeDefaultMaximum(maxPage);
		// batch2 ($import): run single-chunk steps without waiting for the maintenance pass
		s.setJobFastTrackingEnabled(true);
		return s;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		// no subscription channel types: the subscription beans exist only because the JPA beans need them
		return new SubscriptionSettings();
	}

	@Bean
	public IEmailSender emailSender() {
		return theDetails -> {};
	}

	/** The batch2 maintenance pass (which advances $import jobs) runs every minute by default. */
	@Bean
	public static BeanPostProcessor batchMaintenanceFrequency(Environment env) {
		long millis = env.getProperty("fhirpeer.batch-maintenance-ms", Long.class, 2000L);
		return new BeanPostProcessor() {
			@Override
			public Object postProcessBeforeInitialization(Object bean, String beanName) throws BeansException {
				if (bean instanceof JobMaintenanceServiceImpl svc) {
					svc.setScheduledJobFrequencyMillis(millis);
				}
				return bean;
			}
		};
	}

	// ---------------------------------------------------------------- persistence

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(dataSource);
		emf.setJpaPropertyMap(Map.ofEntries(
				Map.entry("hibernate.dialect", "ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect"),
				Map.entry("hibernate.hbm2ddl.auto", "update"),
				Map.entry("hibernate.archive.scanner", "org.hibernate.boot.archive.scan.internal.DisabledScanner"),
				Map.entry(
						"hibernate.implicit_naming_strategy",
						"org.springframework.boot.orm.jpa.hibernate.SpringImplicitNamingStrategy"),
				Map.entry(
						"hibernate.physical_naming_strategy",
						"org.hibernate.boot.model.naming.CamelCaseToUnderscoresNamingStrategy"),
				Map.entry("hibernate.format_sql", "false"),
				Map.entry("hibernate.show_sql", "false"),
				Map.entry("hibernate.jdbc.batch_size", "20"),
				Map.entry("hibernate.cache.use_query_cache", "false"),
				Map.entry("hibernate.cache.use_second_level_cache", "false"),
				Map.entry("hibernate.cache.use_structured_entries", "false"),
				Map.entry("hibernate.cache.use_minimal_puts", "false"),
				// Hibernate Search (Lucene/Elasticsearch) off
				Map.entry("hibernate.search.enabled", "false")));
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		JpaTransactionManager tm = new JpaTransactionManager();
		tm.setEntityManagerFactory(entityManagerFactory);
		return tm;
	}

	@Bean
	public IFulltextSearchSvc fullTextSearchSvc() {
		return new FulltextSearchSvcImpl();
	}

	@Bean
	public IHSearchSortHelper hSearchSortHelper(ISearchParamRegistry searchParamRegistry) {
		return new HSearchSortHelperImpl(searchParamRegistry);
	}

	@Bean
	public IStaleSearchDeletingSvc staleSearchDeletingSvc() {
		return new StaleSearchDeletingSvcImpl();
	}

	@Bean
	public IResourceSupportedSvc resourceSupportedSvc(IDaoRegistry daoRegistry) {
		return new DaoRegistryResourceSupportedSvc(daoRegistry);
	}

	@Bean(name = "myResourceCountsCache")
	public ResourceCountCache resourceCountsCache(IFhirSystemDao<?, ?> systemDao) {
		return ResourceCountCacheUtil.newResourceCountCache(systemDao);
	}

	@Bean
	public DatabaseBinaryContentStorageSvcImpl databaseBinaryStorageSvc() {
		return new DatabaseBinaryContentStorageSvcImpl();
	}

	// ---------------------------------------------------------------- REST server

	@Bean
	public DatabaseBackedPagingProvider databaseBackedPagingProvider(Environment env) {
		DatabaseBackedPagingProvider paging = new DatabaseBackedPagingProvider();
		paging.setDefaultPageSize(env.getProperty("fhirpeer.default-page-size", Integer.class, 20));
		paging.setMaximumPageSize(env.getProperty("fhirpeer.max-page-size", Integer.class, 1000));
		return paging;
	}

	@Bean
	public RestfulServer restfulServer(
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviderFactory,
			IJpaSystemProvider jpaSystemProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			BulkDataImportProvider bulkDataImportProvider,
			BulkDataExportProvider bulkDataExportProvider,
			ValueSetOperationProvider valueSetOperationProvider,
			@Qualifier("myInstanceValidator") IInstanceValidatorModule instanceValidator,
			ValidationConfig.Switch validation) {
		FhirContext ctx = systemDao.getContext();
		ctx.setNarrativeGenerator(new NullNarrativeGenerator());

		RestfulServer server = new RestfulServer(ctx);
		server.registerProviders(resourceProviderFactory.createProviders());
		server.registerProvider(jpaSystemProvider);
		server.registerProvider(bulkDataImportProvider);
		server.registerProvider(bulkDataExportProvider);
		server.registerProvider(valueSetOperationProvider);

		JpaCapabilityStatementProvider capabilities = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		capabilities.setImplementationDescription("fhirpeer test server (HAPI FHIR JPA, R4, H2)");
		server.setServerConformanceProvider(capabilities);

		server.setETagSupport(ETagSupportEnum.ENABLED);
		server.setPagingProvider(pagingProvider);
		server.setDefaultResponseEncoding(EncodingEnum.JSON);

		if (validation.enabled()) {
			RequestValidatingInterceptor interceptor = new RequestValidatingInterceptor();
			interceptor.setFailOnSeverity(ResultSeverityEnum.ERROR);
			interceptor.setValidatorModules(List.of(instanceValidator));
			server.registerInterceptor(interceptor);
			ourLog.info("Request validation is ON (requests with ERROR issues are refused)");
		}
		return server;
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServlet(RestfulServer restfulServer) {
		ServletRegistrationBean<RestfulServer> reg = new ServletRegistrationBean<>(restfulServer, "/fhir/*");
		reg.setName("fhir");
		reg.setLoadOnStartup(1);
		return reg;
	}
}
